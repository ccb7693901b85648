"""l1-builtin-list: element, join, length, split and singleOrNone over config lists."""

import pulumi

config = pulumi.Config()
a_list = config.require_object("aList")
single_or_none_list = config.require_object("singleOrNoneList")
a_string = config.require("aString")


def element(items, index):
    """The item at index, wrapping around the end of the list."""
    return items[index % len(items)]


def single_or_none(items):
    """The only item of a list, None for an empty one; more items are an error."""
    if len(items) > 1:
        raise ValueError(f"singleOrNone: expected at most one item, got {len(items)}")
    return items[0] if items else None


pulumi.export("elementOutput1", element(a_list, 1))
pulumi.export("elementOutput2", element(a_list, 2))
pulumi.export("joinOutput", "|".join(a_list))
pulumi.export("lengthOutput", len(a_list))
pulumi.export("splitOutput", a_string.split("-"))
# In a list: a null stack output would be dropped.
pulumi.export("singleOrNoneOutput", [single_or_none(single_or_none_list)])
