#!/bin/sh
# Guest side of `boot`: say hello.
echo "XVM-GUEST-MARKER hello-from-domU"
