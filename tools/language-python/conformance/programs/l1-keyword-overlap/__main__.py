"""l1-keyword-overlap: values and outputs named after keywords of various languages."""

import pulumi

class_ = "class_output_string"
export = "export_output_string"
import_ = "import_output_string"
mod = "mod_output_string"
object_ = {"object": "object_output_string"}
self_ = "self_output_string"
this = "this_output_string"
if_ = "if_output_string"

pulumi.export("class", class_)
pulumi.export("export", export)
pulumi.export("import", import_)
pulumi.export("mod", mod)
pulumi.export("object", object_)
pulumi.export("self", self_)
pulumi.export("this", this)
pulumi.export("if", if_)
