"""Provider schemas for offline Terraform checks, read from the published CDKTF bindings.

Each `cdktf-cdktf-provider-<name>` wheel on PyPI carries a jsii assembly generated from
the provider's own schema: every resource and data source, every argument with its type
and whether it is required, and the nested blocks. The generated JavaScript next to it
says what jsii cannot: whether a collection is a list or a set, and the snake_case name
of each computed-only attribute. This module turns both into a compact schema, cached
under `.cache/terraform/` so the 131 MB aws assembly is parsed once per checkout.

A schema here is plain JSON:
    block = {"attributes": {name: {"type": cty, "required"|"optional"|"computed": true,
                                   "nested": {"nesting": "single"|"list"|"set"|"map",
                                              "attributes": {...}}}},
             "blocks": {name: {"nesting": "list"|"set", "min_items": n, "max_items": n,
                               "block": block}}}
where `cty` is Terraform's JSON type notation ("string", ["list", "string"], ...).
The bindings do not say which optional arguments are also computed; `id`, `tags_all`
and data sources' optional arguments are marked so, which is what the providers do.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "terraform"
FORMAT = 5  # bump when the converted form changes, so stale caches are rebuilt


@dataclass(frozen=True)
class Provider:
    name: str  # Terraform's local name: aws, azurerm, ...
    source: str  # registry address, as `required_providers` spells it
    package_version: str  # the cdktf-cdktf-provider-<name> release
    provider_version: str  # the provider release that package was generated from

    @property
    def package(self) -> str:
        return f"cdktf-cdktf-provider-{self.name}"


# The last releases of the bindings (their publisher stopped at 2025-12-10); each matches
# the constraint our versions.tf files pin.
PROVIDERS = (
    Provider("aws", "registry.terraform.io/hashicorp/aws", "21.22.1", "6.25.0"),
    Provider("azurerm", "registry.terraform.io/hashicorp/azurerm", "14.23.1", "4.55.0"),
    Provider("random", "registry.terraform.io/hashicorp/random", "12.0.1", "3.7.2"),
    Provider("archive", "registry.terraform.io/hashicorp/archive", "11.0.1", "2.7.1"),
)

_LINK = re.compile(
    r"\{@link (https://registry\.terraform\.io/providers/[^ ]+?)(?:#(\w+))? ([\w#]+)\}"
)
_JS_CHUNK = re.compile(
    r"^(?:function (\w+)ToHclTerraform\(struct\)|class (\w+) extends cdktf\.\w+)", re.M
)
_JS_ATTR = re.compile(
    r"^\s+(\w+): \{\n\s+value: .*\n\s+isBlock: (true|false),\n\s+type: \"(\w+)\"", re.M
)
_JS_GETTER = re.compile(
    r"get (\w+)\(\) \{\n\s+return this\.get\w*Attribute\('(\w+)'\)|this\._(\w+) = new \w+\(this, \"(\w+)\"",
)
_MAPS = {
    "cdktf.StringMap": ["map", "string"],
    "cdktf.NumberMap": ["map", "number"],
    "cdktf.BooleanMap": ["map", "bool"],
    "cdktf.AnyMap": ["map", "dynamic"],
}
# Arguments the providers mark Optional+Computed that configurations commonly read back.
_OPTIONAL_COMPUTED = {"id", "tags_all"}
_CDKTF_ONLY = {"alias"}  # a meta-argument cdktf lists among the provider's arguments


def load(provider: Provider) -> dict[str, Any]:
    """The provider's schema: {"provider": block, "resources": {...}, "data_sources": {...}}."""
    cached = CACHE / f"schema-{provider.name}-{provider.package_version}-v{FORMAT}.json"
    if cached.exists():
        loaded: dict[str, Any] = json.loads(cached.read_text())
        return loaded
    schema = convert(_wheel(provider))
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".tmp")
    partial.write_text(json.dumps(schema, separators=(",", ":")))
    partial.replace(cached)
    return schema


def _wheel(provider: Provider) -> Path:
    dest = CACHE / "wheels"
    pattern = f"cdktf_cdktf_provider_{provider.name}-{provider.package_version}-*.whl"
    found = sorted(dest.glob(pattern))
    if not found:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--dest",
                str(dest),
                f"{provider.package}=={provider.package_version}",
            ],
            check=True,
        )
        found = sorted(dest.glob(pattern))
    return found[0]


def convert(wheel: Path) -> dict[str, Any]:
    assembly: dict[str, Any] = {}
    js: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as archive:
        inner = next(n for n in archive.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(archive.read(inner)), mode="r:gz") as tar:
            for member in tar:
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is None:
                    continue
                if member.name == "package/.jsii":
                    assembly = json.load(handle)
                elif member.name.startswith("package/lib/") and member.name.endswith("/index.js"):
                    js[member.name] = handle.read().decode()
    return _Converter(assembly["types"], js).run()


class _Converter:
    def __init__(self, types: dict[str, Any], js: dict[str, str]) -> None:
        self.types = types
        self.hcl: dict[str, dict[str, tuple[bool, str]]] = {}  # struct -> snake -> (isBlock, kind)
        self.getters: dict[str, dict[str, str]] = {}  # class -> camel -> snake
        for text in js.values():
            self._read_js(text)

    def _read_js(self, text: str) -> None:
        starts = list(_JS_CHUNK.finditer(text))
        for i, start in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
            chunk = text[start.start() : end]
            attrs = {m[1]: (m[2] == "true", m[3]) for m in _JS_ATTR.finditer(chunk)}
            if start[1]:
                name = start[1][0].upper() + start[1][1:]
                self.hcl[name] = attrs
            else:
                self.hcl[f"{start[2]}Config"] = attrs
                getters = self.getters.setdefault(start[2], {})
                for m in _JS_GETTER.finditer(chunk):
                    if m[1]:
                        getters[m[1]] = m[2]
                    else:
                        getters[m[3]] = m[4]

    def run(self) -> dict[str, Any]:
        out: dict[str, Any] = {"provider": None, "resources": {}, "data_sources": {}}
        for definition in self.types.values():
            base = definition.get("base")
            if base not in {
                "cdktf.TerraformResource",
                "cdktf.TerraformDataSource",
                "cdktf.TerraformProvider",
            }:
                continue
            block = self._top(definition)
            if base == "cdktf.TerraformDataSource":
                # A data source's optional arguments are lookup keys the provider fills
                # in when left out (aws_region.region, ...): Optional+Computed.
                for attribute in block["attributes"].values():
                    if attribute.get("optional"):
                        attribute["computed"] = True
            if base == "cdktf.TerraformProvider":
                out["provider"] = block
                continue
            link = _LINK.search(definition["docs"]["summary"])
            assert link, definition["fqn"]
            kind = "resources" if base == "cdktf.TerraformResource" else "data_sources"
            out[kind][link[3]] = block
        return out

    def _top(self, definition: dict[str, Any]) -> dict[str, Any]:
        config_fqn = next(
            p["type"]["fqn"]
            for p in definition["initializer"]["parameters"]
            if p["name"] == "config"
        )
        block = self._block(config_fqn)
        config_props = {p["name"] for p in self.types[config_fqn].get("properties", [])}
        getters = self.getters.get(definition["name"], {})
        for prop in definition.get("properties", []):
            name = prop["name"]
            if prop.get("static") or not prop.get("immutable") or name.endswith("Input"):
                continue
            if name in config_props or name not in getters:
                continue
            block["attributes"].setdefault(
                getters[name], {"type": self._computed_type(prop["type"]), "computed": True}
            )
        return block

    def _computed_type(self, t: dict[str, Any]) -> Any:
        if "primitive" in t:
            return {"string": "string", "number": "number", "boolean": "bool"}.get(
                t["primitive"], "dynamic"
            )
        if "collection" in t:
            element = t["collection"]["elementtype"]
            inner = self._computed_type(element)
            return ["map" if t["collection"]["kind"] == "map" else "list", inner]
        fqn = t.get("fqn", "")
        if fqn in _MAPS:
            return _MAPS[fqn]
        if fqn == "cdktf.IResolvable":
            return "bool"
        return "dynamic"  # a computed object or list of objects: not read by our configurations

    def _block(self, fqn: str) -> dict[str, Any]:
        struct = self.types[fqn]
        hcl = self.hcl.get(struct["name"], {})
        block: dict[str, Any] = {"attributes": {}, "blocks": {}}
        for prop in struct.get("properties", []):
            docs = prop.get("docs", {})
            link = _LINK.search(docs.get("remarks", "")) or _LINK.search(docs.get("summary", ""))
            assert link, f"{fqn}.{prop['name']}"
            name = link[3].split("#")[-1]
            if name in _CDKTF_ONLY:
                continue
            required = not prop.get("optional", False)
            is_block, kind = hcl.get(name, (False, "simple"))
            element = _element_fqn(prop["type"])
            if element is not None and (is_block or docs.get("summary", "").endswith(" block.")):
                single = "fqn" in prop["type"]
                inner = self._block(element)
                # Terraform rejects a set of blocks holding a dynamic value; the few blocks
                # cdktf flattened to `any` make that happen, so those become lists.
                as_set = kind == "set" and '"dynamic"' not in json.dumps(inner)
                block["blocks"][name] = {
                    "nesting": "set" if as_set else "list",
                    "min_items": 1 if required else 0,
                    "max_items": 1 if single else 0,
                    "block": inner,
                }
                continue
            attribute: dict[str, Any] = {"required": True} if required else {"optional": True}
            if name in _OPTIONAL_COMPUTED and not required:
                attribute["computed"] = True
            if element is not None:
                nested = self._block(element)
                nesting = (
                    "single" if "fqn" in prop["type"] else ("set" if kind == "set" else "list")
                )
                attribute["nested"] = {"nesting": nesting, "attributes": nested["attributes"]}
            else:
                attribute["type"] = _cty(prop["type"], kind)
            block["attributes"][name] = attribute
        return block


def _element_fqn(t: dict[str, Any]) -> str | None:
    """The struct a block or nested attribute is made of, if this type is one."""
    if "fqn" in t:
        return None if t["fqn"].startswith("cdktf.") else str(t["fqn"])
    for option in t.get("union", {}).get("types", []):
        element = option.get("collection", {}).get("elementtype", {})
        if "fqn" in element and not element["fqn"].startswith("cdktf."):
            return str(element["fqn"])
    return None


def _cty(t: dict[str, Any], kind: str) -> Any:
    if "primitive" in t:
        return {"string": "string", "number": "number", "boolean": "bool"}.get(
            t["primitive"], "dynamic"
        )
    if "union" in t:
        options = t["union"]["types"]
        if {"primitive": "boolean"} in options:
            return "bool"
        real = [o for o in options if o.get("fqn") != "cdktf.IResolvable"]
        return _cty(real[0], kind) if real else "dynamic"
    if "collection" in t:
        element = _cty(t["collection"]["elementtype"], "simple")
        if t["collection"]["kind"] == "map":
            return ["map", element]
        return ["set" if kind == "set" else "list", element]
    return _MAPS.get(t.get("fqn", ""), "dynamic")
