#!/bin/sh
# A guest that stays up until dom0 writes a line on its console
# (release_guest in lib.sh), at most XVM_HOLD seconds (default 30), so dom0
# can look at what serves it while it runs.
echo "XVM-GUEST-HOLD"
read -r -t "${XVM_HOLD:-30}" _ || true
