"""l1-output-string: string outputs: empty, emoji, escapes and a large multi-line text."""

import pulumi

LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit,"
    " sed do eiusmod tempor incididunt ut labore et dolore magna aliqua."
    " Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat."
    " Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur."
    " Excepteur sint occaecat cupidatat non proident,"
    " sunt in culpa qui officia deserunt mollit anim id est laborum."
)
PREFIX = "Some ${common} \"characters\" 'that' need escaping: \\ (backslash), "
SUFFIX = "\t (tab), \x1b (escape), \x07 (bell), \x00 (null), \U000e0021 (tag space)"

pulumi.export("empty", "")
pulumi.export("small", "Hello world!")
pulumi.export("emoji", "\U0001f44b \"Hello \U0001019b!\" \U0001f60a")
pulumi.export("escape", PREFIX + SUFFIX)
pulumi.export("escapeNewline", PREFIX + "\n (newline), " + SUFFIX)
pulumi.export("large", (LOREM + "\n") * 150)
