"""l1-config-types-primitive: number, int, string and bool config values, with defaults."""

import pulumi

config = pulumi.Config()


def or_default(value, default):
    return default if value is None else value


pulumi.export("theNumber", config.require_float("aNumber") + 1.25)
pulumi.export("defaultNumber", or_default(config.get_float("optionalNumber"), 41.5) + 1.2)
pulumi.export("theInteger", config.require_int("anInt") + 4)
pulumi.export("defaultInteger", or_default(config.get_int("optionalInt"), 1) + 2)
pulumi.export("theString", f"{config.require('aString')} World")
pulumi.export("defaultString", or_default(config.get("optionalString"), "defaultStringValue"))
pulumi.export("theBool", not config.require_bool("aBool") and True)
pulumi.export("defaultBool", or_default(config.get_bool("optionalBool"), False))
