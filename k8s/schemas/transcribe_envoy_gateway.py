#!/usr/bin/env python3
"""Transcribes the JSON schemas of the Envoy Gateway objects uid-gate ships (k8s/envoy-gateway/)
from Envoy Gateway's own CRDs, as k8s/schemas/ holds Istio's: the openAPIV3Schema of each CRD,
cut to the fields uid-gate uses (a field outside them is an error, as it would be a field we
never checked), with every object closed (additionalProperties: false, as kubectl's strict
field validation refuses unknown fields). CEL rules (x-kubernetes-validations) are kept in the
file for reference; jsonschema does not run them, and validate.py checks the ones that matter.

    git clone --depth 1 --branch v1.8.3 https://github.com/envoyproxy/gateway eg
    python3 k8s/schemas/transcribe_envoy_gateway.py eg/charts/gateway-helm/charts/crds/crds/generated
(the Gateway API bundle, for ReferenceGrant, is read from the directory above it).
"""

import json
import pathlib
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
VERSION = "v1.8.3"
# CRD file -> (output, the spec fields uid-gate uses)
WANTED = {
    "gateway.envoyproxy.io_envoyextensionpolicies.yaml": (
        "envoyextensionpolicy-gateway-envoyproxy-io-v1alpha1.json", ["targetRefs", "dynamicModule"]),
    "gateway.envoyproxy.io_envoyproxies.yaml": (
        "envoyproxy-gateway-envoyproxy-io-v1alpha1-subset.json", ["dynamicModules", "provider"]),
    "gateway.envoyproxy.io_securitypolicies.yaml": (
        "securitypolicy-gateway-envoyproxy-io-v1alpha1.json", ["targetRefs", "extAuth"]),
}
# Inside provider: only what the module needs (the Envoy Deployment's init container,
# volumes, mounts and environment).
PROVIDER_KEEP = {
    "provider": ["type", "kubernetes"],
    "kubernetes": ["envoyDeployment"],
    "envoyDeployment": ["initContainers", "pod", "container"],
    "pod": ["volumes"],
    "container": ["env", "volumeMounts"],
}


def closed(schema):
    """Every object with properties refuses others; recursively."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
        for v in schema.values():
            closed(v)
    elif isinstance(schema, list):
        for v in schema:
            closed(v)
    return schema


def keep(schema, names):
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k in names}
    schema["required"] = [r for r in schema.get("required", []) if r in names]
    if not schema["required"]:
        del schema["required"]
    return schema


def cut_provider(schema, key="provider"):
    keep(schema, PROVIDER_KEEP[key])
    for name in PROVIDER_KEEP[key]:
        sub = schema["properties"][name]
        if name in PROVIDER_KEEP and "properties" in sub:
            cut_provider(sub, name)


def crds(crd_dir):
    """(file, CRD, its version uid-gate uses, output, fields) for each wanted object."""
    for crd_file, (out, fields) in WANTED.items():
        crd = yaml.safe_load((pathlib.Path(crd_dir) / crd_file).read_text())
        yield crd_file, crd, "v1alpha1", out, fields
    # The Gateway API CRDs Envoy Gateway bundles: ReferenceGrant, for the SecurityPolicy's
    # backend in uid-gate's namespace.
    bundle = "gatewayapi-crds.yaml"
    for crd in yaml.safe_load_all((pathlib.Path(crd_dir).parent / bundle).read_text()):
        if crd and crd["spec"]["names"]["kind"] == "ReferenceGrant":
            yield bundle, crd, "v1beta1", "referencegrant-gateway-networking-k8s-io-v1beta1.json", ["from", "to"]


def main(crd_dir):
    for crd_file, crd, name, out, fields in crds(crd_dir):
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == name]
        schema = version["schema"]["openAPIV3Schema"]
        spec = keep(schema["properties"]["spec"], fields)
        if "provider" in spec["properties"]:
            cut_provider(spec["properties"]["provider"])
        keep(schema, ["apiVersion", "kind", "metadata", "spec"])
        schema["properties"]["metadata"] = {"type": "object"}
        schema["$comment"] = f"Transcribed from Envoy Gateway {VERSION} {crd_file}, spec cut to {fields}, by {pathlib.Path(__file__).name}"
        (HERE / out).write_text(json.dumps(closed(schema), indent=1, sort_keys=True) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1])
