"""GitHub's published REST API description (npm @octokit/openapi, pinned in
tests/e2e/forge-schema/package-lock.json) as the fake forge's judge: a
request jenky makes must fit the operation's path template, parameters and
request-body schema. The package is installed (npm ci) on first use; set
JENKY_GITHUB_OPENAPI to a copy of api.github.com.deref.json to use that."""

import json
import os
import re
import subprocess

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forge-schema")
DEREF = os.path.join(HERE, "node_modules", "@octokit", "openapi", "generated",
                     "api.github.com.deref.json")


def load_github():
    path = os.environ.get("JENKY_GITHUB_OPENAPI") or DEREF
    if not os.path.exists(path):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True,
                       capture_output=True, timeout=600)
    with open(path) as f:
        return json.load(f)


def operation(spec, operation_id):
    for template, item in spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return template, method.upper(), op
    raise KeyError(operation_id)


def validate(schema, value, where="body"):
    """The OpenAPI 3.0 schema subset GitHub's request bodies use: type,
    nullable, enum, properties, required, additionalProperties, items,
    maxLength. Returns a list of problems."""
    problems = []
    if value is None:
        if not schema.get("nullable"):
            problems.append(f"{where} is null")
        return problems
    kind = schema.get("type")
    checks = {"string": str, "object": dict, "array": list, "boolean": bool, "integer": int}
    if kind in checks and not isinstance(value, checks[kind]):
        return [f"{where} is {type(value).__name__}, the schema says {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where} = {value!r} is not one of {schema['enum']}")
    if kind == "string" and "maxLength" in schema and len(value) > schema["maxLength"]:
        problems.append(f"{where} is longer than {schema['maxLength']}")
    if kind == "object":
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{where}.{name} is required")
        for name, v in value.items():
            if name in props:
                problems += validate(props[name], v, f"{where}.{name}")
            elif schema.get("additionalProperties") is False or props:
                # GitHub ignores unknown fields; a client that sends one
                # has a bug (a misspelt field is silently lost).
                problems.append(f"{where}.{name} is not in the schema")
    if kind == "array":
        for i, v in enumerate(value):
            problems += validate(schema.get("items", {}), v, f"{where}[{i}]")
    return problems


def check_request(spec, operation_id, base_path, request):
    """Problems with REQUEST (a notify_receivers record) as OPERATION_ID,
    the API served under BASE_PATH."""
    template, method, op = operation(spec, operation_id)
    problems = []
    pattern = "^" + re.escape(base_path) + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+",
                                                  re.escape(template)) + "$"
    if not re.match(pattern, request["path"]):
        problems.append(f"path {request['path']} does not fit {base_path}{template}")
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    try:
        body = json.loads(request["body"])
    except ValueError:
        return problems + ["the body is not JSON"]
    return problems + validate(schema, body)
