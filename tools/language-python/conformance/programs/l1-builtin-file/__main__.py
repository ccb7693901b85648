"""l1-builtin-file: read a file relative to the working directory, as text, base64 and SHA-256."""

import base64
import hashlib

import pulumi

with open("testfile.txt", "rb") as f:
    content = f.read()

pulumi.export("fileContent", content.decode("utf-8"))
pulumi.export("fileB64", base64.b64encode(content).decode("ascii"))
pulumi.export("fileSha", base64.b64encode(hashlib.sha256(content).digest()).decode("ascii"))
