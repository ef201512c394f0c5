/*
 * qmp: the QMP message handler (pure: bytes in, bytes out).
 *
 * Trust boundary: bytes from a QMP client.  A streaming JSON tokener with
 * a bounded depth splits the input into messages of at most QMP_MSG_MAX
 * bytes; each message is checked (an object, a string "execute", an
 * object "arguments", no other members than QEMU allows) before the one
 * table of commands is consulted.  A parse error is answered and the
 * input skipped to the next line; an oversized message closes the
 * connection.
 */
#include <config.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp.h"

#define QMP_DEPTH 16

/* The QEMU version we claim (libxl accepts any; 9.2 has every command it
 * may probe for). */
#define QMP_QEMU_MAJOR 9
#define QMP_QEMU_MINOR 2
#define QMP_QEMU_MICRO 0

struct qmp_conn {
    const struct qmp_handler *h;
    struct json_tokener *tok;
    size_t pending;         /* bytes fed into the current message */
    bool negotiated;        /* qmp_capabilities seen */
    bool skip_line;         /* after a parse error: drop up to '\n' */
};

/* A command's result: `ret` (owned) or an error description. */
struct qmp_result {
    struct json_object *ret;
    const char *err_class;
    char err_desc[256];
    bool quit;
};

typedef void (*qmp_cmd_fn)(struct qmp_conn *c, struct json_object *args,
                           struct qmp_result *r);

void
qmp_buf_free(struct qmp_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
qmp_buf_consume(struct qmp_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static int
qmp_buf_append(struct qmp_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;

        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        p = realloc(b->data, cap);
        if (!p) {
            return -ENOMEM;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* Serialise `obj` and append it with the "\r\n" libxl splits on. */
static int
qmp_send(struct qmp_buf *out, struct json_object *obj)
{
    const char *s = json_object_to_json_string_ext(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc;

    if (!s) {
        return -ENOMEM;
    }
    rc = qmp_buf_append(out, s, strlen(s));
    return rc ? rc : qmp_buf_append(out, "\r\n", 2);
}

int
qmp_conn_new(struct qmp_conn **out, const struct qmp_handler *h)
{
    struct qmp_conn *c = calloc(1, sizeof(*c));

    if (!c) {
        return -ENOMEM;
    }
    c->tok = json_tokener_new_ex(QMP_DEPTH);
    if (!c->tok) {
        free(c);
        return -ENOMEM;
    }
    /* Strict JSON, several messages per read, valid UTF-8 only. */
    json_tokener_set_flags(c->tok, JSON_TOKENER_STRICT |
                                       JSON_TOKENER_ALLOW_TRAILING_CHARS |
                                       JSON_TOKENER_VALIDATE_UTF8);
    c->h = h;
    *out = c;
    return 0;
}

void
qmp_conn_free(struct qmp_conn *c)
{
    if (!c) {
        return;
    }
    json_tokener_free(c->tok);
    free(c);
}

static struct json_object *
qmp_version_obj(void)
{
    struct json_object *v = json_object_new_object();
    struct json_object *q = json_object_new_object();

    json_object_object_add(q, "micro", json_object_new_int(QMP_QEMU_MICRO));
    json_object_object_add(q, "minor", json_object_new_int(QMP_QEMU_MINOR));
    json_object_object_add(q, "major", json_object_new_int(QMP_QEMU_MAJOR));
    json_object_object_add(v, "qemu", q);
    json_object_object_add(v, "package",
                           json_object_new_string(PACKAGE_STRING));
    return v;
}

int
qmp_conn_greeting(struct qmp_conn *c, struct qmp_buf *out)
{
    struct json_object *g = json_object_new_object();
    struct json_object *qmp = json_object_new_object();
    int rc;

    (void)c;
    json_object_object_add(qmp, "version", qmp_version_obj());
    json_object_object_add(qmp, "capabilities", json_object_new_array());
    json_object_object_add(g, "QMP", qmp);
    rc = qmp_send(out, g);
    json_object_put(g);
    return rc;
}

static enum qmp_status
qmp_status_of(struct qmp_conn *c)
{
    return c->h && c->h->status ? c->h->status(c->h->opaque)
                                : QMP_STATUS_RUNNING;
}

static const char *
qmp_status_name(enum qmp_status s)
{
    switch (s) {
    case QMP_STATUS_PRELAUNCH:
        return "prelaunch";
    case QMP_STATUS_PAUSED:
        return "paused";
    default:
        return "running";
    }
}

static void
qmp_fail(struct qmp_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
qmp_fail(struct qmp_result *r, const char *fmt, ...)
{
    va_list ap;

    r->err_class = "GenericError";
    va_start(ap, fmt);
    vsnprintf(r->err_desc, sizeof(r->err_desc), fmt, ap);
    va_end(ap);
}

static void
cmd_capabilities(struct qmp_conn *c, struct json_object *args,
                 struct qmp_result *r)
{
    if (c->negotiated) {
        qmp_fail(r, "%s", "Capabilities negotiation is already complete, "
                 "command ignored");
        return;
    }
    c->negotiated = true;
    r->ret = json_object_new_object();
}

static void
cmd_empty_object(struct qmp_conn *c, struct json_object *args,
                 struct qmp_result *r)
{
    r->ret = json_object_new_object();
}

static void
cmd_empty_array(struct qmp_conn *c, struct json_object *args,
                struct qmp_result *r)
{
    r->ret = json_object_new_array();
}

static void
cmd_quit(struct qmp_conn *c, struct json_object *args, struct qmp_result *r)
{
    r->ret = json_object_new_object();
    r->quit = true;
}

static void
cmd_query_vnc(struct qmp_conn *c, struct json_object *args,
              struct qmp_result *r)
{
    r->ret = json_object_new_object();
    json_object_object_add(r->ret, "enabled", json_object_new_boolean(0));
}

static void
cmd_query_status(struct qmp_conn *c, struct json_object *args,
                 struct qmp_result *r)
{
    enum qmp_status s = qmp_status_of(c);

    r->ret = json_object_new_object();
    json_object_object_add(r->ret, "status",
                           json_object_new_string(qmp_status_name(s)));
    json_object_object_add(r->ret, "singlestep", json_object_new_boolean(0));
    json_object_object_add(r->ret, "running",
                           json_object_new_boolean(s == QMP_STATUS_RUNNING));
}

static void
cmd_query_version(struct qmp_conn *c, struct json_object *args,
                  struct qmp_result *r)
{
    r->ret = qmp_version_obj();
}

static void
cmd_run(struct qmp_conn *c, bool running, struct qmp_result *r)
{
    if (c->h && c->h->run) {
        c->h->run(c->h->opaque, running);
    }
    r->ret = json_object_new_object();
}

static void
cmd_cont(struct qmp_conn *c, struct json_object *args, struct qmp_result *r)
{
    cmd_run(c, true, r);
}

static void
cmd_stop(struct qmp_conn *c, struct json_object *args, struct qmp_result *r)
{
    cmd_run(c, false, r);
}

static void
cmd_hmp(struct qmp_conn *c, struct json_object *args, struct qmp_result *r)
{
    struct json_object *v;
    const char *line;
    char text[512];

    if (!args || !json_object_object_get_ex(args, "command-line", &v) ||
        !json_object_is_type(v, json_type_string)) {
        qmp_fail(r, "%s", "Parameter 'command-line' is missing or not a "
                 "string");
        return;
    }
    line = json_object_get_string(v);
    while (*line == ' ') {
        line++;
    }
    if (!strcmp(line, "info status")) {
        enum qmp_status s = qmp_status_of(c);

        snprintf(text, sizeof(text), "VM status: %s\r\n",
                 s == QMP_STATUS_RUNNING   ? "running"
                 : s == QMP_STATUS_PAUSED  ? "paused"
                                           : "paused (prelaunch)");
    } else if (!strcmp(line, "info version")) {
        snprintf(text, sizeof(text), "%d.%d.%d (%s)\r\n", QMP_QEMU_MAJOR,
                 QMP_QEMU_MINOR, QMP_QEMU_MICRO, PACKAGE_STRING);
    } else if (!*line || !strcmp(line, "help") || !strcmp(line, "info")) {
        snprintf(text, sizeof(text),
                 "info status -- show the guest's run state\r\n"
                 "info version -- show the version\r\n");
    } else {
        /* QEMU answers unknown monitor commands in the text, not as an
         * error; do the same (the line is echoed bounded). */
        snprintf(text, sizeof(text), "unknown command: '%.200s'\r\n", line);
    }
    r->ret = json_object_new_string(text);
}

static void cmd_query_commands(struct qmp_conn *c, struct json_object *args,
                               struct qmp_result *r);

/* Every command we answer; nothing else is executed. */
static const struct {
    const char *name;
    qmp_cmd_fn fn;
} qmp_cmds[] = {
    { "qmp_capabilities", cmd_capabilities },
    { "query-command-line-options", cmd_empty_array },
    { "query-chardev", cmd_empty_array },
    { "query-vnc", cmd_query_vnc },
    { "change-vnc-password", cmd_empty_object },
    { "query-status", cmd_query_status },
    { "query-version", cmd_query_version },
    { "query-commands", cmd_query_commands },
    { "human-monitor-command", cmd_hmp },
    { "cont", cmd_cont },
    { "stop", cmd_stop },
    { "quit", cmd_quit },
};

static void
cmd_query_commands(struct qmp_conn *c, struct json_object *args,
                   struct qmp_result *r)
{
    r->ret = json_object_new_array();
    for (size_t i = 0; i < sizeof(qmp_cmds) / sizeof(qmp_cmds[0]); i++) {
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "name",
                               json_object_new_string(qmp_cmds[i].name));
        json_object_array_add(r->ret, o);
    }
}

/* Check the message's shape, then run the command. */
static void
qmp_dispatch(struct qmp_conn *c, struct json_object *req,
             struct qmp_result *r)
{
    struct json_object *exec = NULL, *args = NULL;
    const char *name;

    if (!json_object_is_type(req, json_type_object)) {
        qmp_fail(r, "%s", "QMP input must be a JSON object");
        return;
    }
    json_object_object_foreach(req, key, val) {
        (void)val;
        if (strcmp(key, "execute") && strcmp(key, "arguments") &&
            strcmp(key, "id") && strcmp(key, "control")) {
            qmp_fail(r, "QMP input member '%.64s' is unexpected", key);
            return;
        }
    }
    if (!json_object_object_get_ex(req, "execute", &exec) ||
        !json_object_is_type(exec, json_type_string)) {
        qmp_fail(r, "%s", "QMP input lacks member 'execute' (a string)");
        return;
    }
    if (json_object_object_get_ex(req, "arguments", &args) &&
        !json_object_is_type(args, json_type_object)) {
        qmp_fail(r, "%s", "QMP input member 'arguments' must be an object");
        return;
    }
    name = json_object_get_string(exec);
    if (!c->negotiated && strcmp(name, "qmp_capabilities")) {
        qmp_fail(r, "%s", "Expecting capabilities negotiation with "
                 "'qmp_capabilities'");
        return;
    }
    for (size_t i = 0; i < sizeof(qmp_cmds) / sizeof(qmp_cmds[0]); i++) {
        if (!strcmp(name, qmp_cmds[i].name)) {
            qmp_cmds[i].fn(c, args, r);
            return;
        }
    }
    qmp_fail(r, "The command %.64s has not been found", name);
}

/* Answer one parsed message (req may be any JSON value). */
static int
qmp_answer(struct qmp_conn *c, struct json_object *req, struct qmp_buf *out,
           bool *quit)
{
    struct qmp_result r = { .ret = NULL };
    struct json_object *reply = json_object_new_object();
    struct json_object *id;
    int rc;

    if (!reply) {
        return -ENOMEM;
    }
    qmp_dispatch(c, req, &r);
    if (r.err_class) {
        struct json_object *e = json_object_new_object();

        json_object_object_add(e, "class",
                               json_object_new_string(r.err_class));
        json_object_object_add(e, "desc", json_object_new_string(r.err_desc));
        json_object_object_add(reply, "error", e);
    } else {
        json_object_object_add(reply, "return", r.ret);
    }
    /* Echo the id as the very same JSON value (libxl: an integer). */
    if (json_object_is_type(req, json_type_object) &&
        json_object_object_get_ex(req, "id", &id)) {
        json_object_object_add(reply, "id", json_object_get(id));
    }
    rc = qmp_send(out, reply);
    json_object_put(reply);
    *quit = *quit || r.quit;
    return rc;
}

static int
qmp_parse_error(struct qmp_buf *out, const char *why)
{
    struct json_object *reply = json_object_new_object();
    struct json_object *e = json_object_new_object();
    char desc[128];
    int rc;

    snprintf(desc, sizeof(desc), "JSON parse error, %s", why);
    json_object_object_add(e, "class", json_object_new_string("GenericError"));
    json_object_object_add(e, "desc", json_object_new_string(desc));
    json_object_object_add(reply, "error", e);
    rc = qmp_send(out, reply);
    json_object_put(reply);
    return rc;
}

int
qmp_conn_input(struct qmp_conn *c, const void *data, size_t len,
               struct qmp_buf *out)
{
    const char *p = data;
    bool quit = false;
    int rc;

    while (len > 0) {
        struct json_object *obj;
        enum json_tokener_error jerr;
        size_t used, chunk;

        if (c->skip_line) {
            const char *nl = memchr(p, '\n', len);

            if (!nl) {
                return QMP_KEEP;
            }
            len -= (size_t)(nl + 1 - p);
            p = nl + 1;
            c->skip_line = false;
            continue;
        }
        chunk = len > INT32_MAX ? INT32_MAX : len;
        obj = json_tokener_parse_ex(c->tok, p, (int)chunk);
        jerr = json_tokener_get_error(c->tok);
        if (jerr == json_tokener_continue) {
            c->pending += chunk;
            if (c->pending > QMP_MSG_MAX) {
                rc = qmp_parse_error(out, "message too long");
                return rc ? rc : QMP_CLOSE;
            }
            p += chunk;
            len -= chunk;
            continue;
        }
        if (jerr != json_tokener_success) {
            rc = qmp_parse_error(out, json_tokener_error_desc(jerr));
            json_tokener_reset(c->tok);
            c->pending = 0;
            c->skip_line = true;
            if (rc) {
                return rc;
            }
            continue;
        }
        used = json_tokener_get_parse_end(c->tok);
        if (used == 0 || used > chunk) {
            used = chunk; /* cannot happen; never loop forever */
        }
        json_tokener_reset(c->tok);
        c->pending = 0;
        p += used;
        len -= used;
        rc = qmp_answer(c, obj, out, &quit);
        json_object_put(obj);
        if (rc) {
            return rc;
        }
        if (quit) {
            /* Whatever follows quit is not executed. */
            return QMP_QUIT;
        }
    }
    return QMP_KEEP;
}
