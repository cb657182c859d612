#!/usr/bin/env bash
# A bash `process` function: reads the CloudEvent from stdin and answers with one line of text.
event=$(cat)
echo "archived ${#event} bytes"
