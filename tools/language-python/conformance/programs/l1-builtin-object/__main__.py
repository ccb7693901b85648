"""l1-builtin-object: entries, lookup and length over maps, typed and untyped."""

import pulumi

config = pulumi.Config()
a_map = config.require_object("aMap")
alternative_names = config.get_object("alternativeNames")
if alternative_names is None:
    alternative_names = {}


def entries(mapping):
    """The key/value pairs of a map as objects, sorted by key."""
    return [{"key": key, "value": mapping[key]} for key in sorted(mapping)]


pulumi.export("entriesOutput", entries(a_map))
pulumi.export("lookupOutput", a_map.get("keyPresent", "default"))
pulumi.export("lookupOutputDefault", a_map.get("keyMissing", "default"))
pulumi.export("lookupLiteral", {"a": 1, "b": 2}.get("c", 3))
pulumi.export("lookupLiteralMismatchedType", {"a": 1, "b": 2}.get("c", True))
pulumi.export("deprecatedTwoArgumentLookup", {"a": 1, "b": 2}["a"])
pulumi.export("names", [entry["value"] for entry in entries(alternative_names)])
pulumi.export("lengthOutput", len(a_map))
pulumi.export("lengthDynamicOutput", len(alternative_names))
