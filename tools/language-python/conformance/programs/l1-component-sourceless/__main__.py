"""l1-component-sourceless: a component registered under a type token of our choosing, with
inputs and no children."""

import json

import pulumi

pulumi.ComponentResource(
    "my:custom:Component",
    "myComponent",
    props={
        "aNumber": 42,
        "aString": "hello",
        "aJson": json.dumps({"key": "value"}),
    },
)
