#!/usr/bin/python3
"""One validator of the plugin's parameters: every value that
`nbd-integrity serve --check` accepts in a configuration file, the plugin
accepts on nbdkit's command line, and every value one refuses, so does
the other, with the same words.  (write-buffer=1K once passed the check,
which promises a file that starts, and then the plugin refused it, so
serve restarted that export in a loop.)"""

import helpers
from helpers import check

# (configuration key, plugin key, value); both keys are the same but for
# the disk, which the configuration calls disk= and the plugin file=.
VALUES = [
    ("write-buffer", "1K"), ("write-buffer", "63K"), ("write-buffer", "64K"),
    ("write-buffer", "0"), ("write-buffer", "16M"), ("write-buffer", "1.5M"),
    ("write-buffer", "-1"), ("write-buffer", "16X"), ("write-buffer", "8E"),
    ("tag-cache", "0"), ("tag-cache", "1"), ("tag-cache", "64m"),
    ("tag-cache", "lots"),
    ("mode", "tags"), ("mode", "full"), ("mode", "none"),
    ("mode", "recovery"), ("mode", "TAGS"), ("mode", "fast"),
    ("hash", "crc32c"), ("hash", "sha256"), ("hash", "md5"),
    ("lock-memory", "false"), ("lock-memory", "no"), ("lock-memory", "OFF"),
    ("lock-memory", "maybe"),
]


def config_accepts(t, disk, key, value):
    """Whether serve --check accepts KEY=VALUE; and its message."""
    config = t.path("params.conf")
    with open(config, "w") as f:
        f.write("[export e]\ndisk = %s\nsocket = %s\n%s = %s\n"
                % (disk, t.path("e.sock"), key, value))
    r = t.run_tool("serve", "--check", config)
    check(r.returncode in (0, 2), "serve --check %s=%s: exit %d: %s"
          % (key, value, r.returncode, r.stderr))
    return r.returncode == 0, r.stderr


def plugin_accepts(t, disk, key, value):
    """Whether nbdkit starts with the plugin given KEY=VALUE; and its log.
    A hash= that names another algorithm than the disk's is refused at
    start, for another reason: the disk is formatted with crc32c."""
    server = t.server(disk, "%s=%s" % (key, value))
    started = server.launch()
    log = server.log(since_start=True)
    if started:
        server.stop()
    return started, log


def main(t):
    disk = t.format()
    for key, value in VALUES:
        in_config, why_config = config_accepts(t, disk, key, value)
        in_plugin, why_plugin = plugin_accepts(t, disk, key, value)
        if key == "hash" and value == "sha256":
            # A known algorithm, not this disk's: the check cannot know.
            check(in_config and not in_plugin,
                  "hash=sha256 on a crc32c disk: config %s, plugin %s"
                  % (in_config, in_plugin))
            continue
        check(in_config == in_plugin,
              "%s=%s: serve --check %s it, the plugin %s it\n%s\n%s"
              % (key, value, "accepts" if in_config else "refuses",
                 "accepts" if in_plugin else "refuses", why_config,
                 why_plugin))
        if not in_config:
            # The same words, from the same validator.
            reason = why_config.strip().split(": ", 3)[-1]
            check(reason in why_plugin,
                  "%s=%s: the plugin's refusal does not say %r:\n%s"
                  % (key, value, reason, why_plugin))


helpers.run(main)
