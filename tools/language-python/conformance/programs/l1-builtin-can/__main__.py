"""l1-builtin-can: whether an expression evaluates without error, on plain and secret values."""

import pulumi


def can(expression):
    """True when calling expression raises no lookup error."""
    try:
        expression()
    except (KeyError, IndexError, TypeError, AttributeError):
        return False
    return True


config = pulumi.Config()
a_map = config.require_object("aMap")
an_object = config.require_object("anObject")  # untyped: field access may fail at run time

pulumi.export("plainTrySuccess", can(lambda: a_map["a"]))
pulumi.export("plainTryFailure", can(lambda: a_map["b"]))

a_secret_map = pulumi.Output.secret(a_map)
pulumi.export("outputTrySuccess", a_secret_map.apply(lambda m: can(lambda: m["a"])))
pulumi.export("outputTryFailure", a_secret_map.apply(lambda m: can(lambda: m["b"])))

pulumi.export("dynamicTrySuccess", can(lambda: an_object["a"]))
pulumi.export("dynamicTryFailure", can(lambda: an_object["b"]))

a_secret_object = pulumi.Output.secret(an_object)
pulumi.export("outputDynamicTrySuccess", a_secret_object.apply(lambda o: can(lambda: o["a"])))
pulumi.export("outputDynamicTryFailure", a_secret_object.apply(lambda o: can(lambda: o["b"])))

# A field that is present with a null value evaluates fine.
pulumi.export("plainTryNull", can(lambda: an_object["opt"]))
pulumi.export("outputTryNull", a_secret_object.apply(lambda o: can(lambda: o["opt"])))
