"""l1-config-types-object: map, object and untyped config values, with defaults."""

import json

import pulumi

config = pulumi.Config()

a_map = config.require_object("aMap")
pulumi.export("theMap", {"a": a_map["a"] + 1, "b": a_map["b"] + 1})

an_object = config.require_object("anObject")
pulumi.export("theObject", an_object["prop"][0])

any_object = config.require_object("anyObject")
pulumi.export("theThing", any_object["a"] + any_object["b"])

optional_untyped_object = config.get_object("optionalUntypedObject")
if optional_untyped_object is None:
    optional_untyped_object = {"key": "value"}
pulumi.export("defaultUntypedObject", optional_untyped_object)

# Optional values default to null; their outputs are JSON text.
for key in ("optionalList", "optionalMap", "optionalObject"):
    value = config.get_object(key)
    pulumi.export(key, "null" if value is None else json.dumps(value))
