"""Check TOML documents against the environment files' JSON Schema, with a validator we did not
write (python-jsonschema, the reference implementation, Draft 7 as the schema declares).

Usage: python schema_check.py <schema.json>  < {"name": "<toml text>", ...}
Prints {"name": null | "<why it is rejected>", ...}: a document that is not TOML is rejected too.
"""

import json
import sys
import tomllib

import jsonschema


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    verdicts = {}
    for name, text in json.load(sys.stdin).items():
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            verdicts[name] = f"not TOML: {e}"
            continue
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        verdicts[name] = (
            "; ".join(f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors)
            or None
        )
    json.dump(verdicts, sys.stdout, indent=1)


main()
