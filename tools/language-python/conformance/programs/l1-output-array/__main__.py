"""l1-output-array: empty, small, numeric, nested and large list outputs."""

import pulumi

LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit,"
    " sed do eiusmod tempor incididunt ut labore et dolore magna aliqua."
    " Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat."
    " Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur."
    " Excepteur sint occaecat cupidatat non proident,"
    " sunt in culpa qui officia deserunt mollit anim id est laborum."
)

pulumi.export("empty", [])
pulumi.export("small", ["Hello", "World"])
pulumi.export("numbers", [0, 1, 2, 3, 4, 5])
pulumi.export("nested", [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
pulumi.export("large", [LOREM] * 150)
