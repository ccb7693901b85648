"""l1-builtin-try: the first expression that evaluates without error, on plain and secret values."""

import pulumi


def try_(expression, fallback):
    """expression's value, or fallback when evaluating it raises a lookup error."""
    try:
        return expression()
    except (KeyError, IndexError, TypeError, AttributeError):
        return fallback


config = pulumi.Config()
a_map = config.require_object("aMap")
an_object = config.require_object("anObject")  # untyped: field access may fail at run time

pulumi.export("plainTrySuccess", try_(lambda: a_map["a"], "fallback"))
pulumi.export("plainTryFailure", try_(lambda: a_map["b"], "fallback"))

a_secret_map = pulumi.Output.secret(a_map)
pulumi.export("outputTrySuccess", a_secret_map.apply(lambda m: try_(lambda: m["a"], "fallback")))
pulumi.export("outputTryFailure", a_secret_map.apply(lambda m: try_(lambda: m["b"], "fallback")))

pulumi.export("dynamicTrySuccess", try_(lambda: an_object["a"], "fallback"))
pulumi.export("dynamicTryFailure", try_(lambda: an_object["b"], "fallback"))

a_secret_object = pulumi.Output.secret(an_object)
pulumi.export(
    "outputDynamicTrySuccess", a_secret_object.apply(lambda o: try_(lambda: o["a"], "fallback"))
)
pulumi.export(
    "outputDynamicTryFailure", a_secret_object.apply(lambda o: try_(lambda: o["b"], "fallback"))
)

# A field present with a null value evaluates to null, not to the fallback. In a list: a null
# stack output would be dropped.
pulumi.export("plainTryNull", [try_(lambda: an_object["opt"], "fallback")])
pulumi.export(
    "outputTryNull", a_secret_object.apply(lambda o: [try_(lambda: o["opt"], "fallback")])
)
