"""A schema-only Terraform provider, so `terraform validate`, `test` and `plan` run offline.

It serves the real providers' schemas (see schema.py) over plugin protocol 6 on loopback,
one gRPC port per provider, and Terraform attaches to it through TF_REATTACH_PROVIDERS
instead of downloading anything. Terraform core checks every argument name, type and
required block against the schema. Planning answers "known after apply" for computed
attributes; data sources read as placeholders; nothing is ever applied.

    python -m tests.terraform.provider      # prints an `export TF_REATTACH_PROVIDERS=...`
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
from concurrent import futures
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import msgpack

from tests.terraform.schema import CACHE, PROVIDERS, Provider, load

PROTO = Path(__file__).with_name("tfplugin6.proto")
UNKNOWN = msgpack.ExtType(0, b"\x00")
_compile_lock = threading.Lock()


def protocol() -> tuple[ModuleType, ModuleType]:
    """The generated message and service modules, compiled from tfplugin6.proto on first use."""
    out = CACHE / "tfplugin6"
    with _compile_lock:
        stamp = out / f"{PROTO.stat().st_mtime_ns}.stamp"
        if not stamp.exists():
            from grpc_tools import protoc  # build-time tool, only needed here

            out.mkdir(parents=True, exist_ok=True)
            for old in out.glob("*.stamp"):
                old.unlink()
            args = [
                "protoc",
                f"-I{PROTO.parent}",
                f"--python_out={out}",
                f"--grpc_python_out={out}",
            ]
            if protoc.main([*args, str(PROTO)]) != 0:
                raise RuntimeError(f"protoc failed on {PROTO}")
            stamp.touch()
        if str(out) not in sys.path:
            sys.path.insert(0, str(out))
    return importlib.import_module("tfplugin6_pb2"), importlib.import_module("tfplugin6_pb2_grpc")


def _block(pb: ModuleType, spec: dict[str, Any]) -> Any:
    nesting = {"single": 1, "list": 2, "set": 3, "map": 4}
    return pb.Schema.Block(
        attributes=[_attribute(pb, name, a) for name, a in spec["attributes"].items()],
        block_types=[
            pb.Schema.NestedBlock(
                type_name=name,
                block=_block(pb, b["block"]),
                nesting=nesting[b["nesting"]],
                min_items=b["min_items"],
                max_items=b["max_items"],
            )
            for name, b in spec["blocks"].items()
        ],
    )


def _attribute(pb: ModuleType, name: str, spec: dict[str, Any]) -> Any:
    flags = {k: bool(spec.get(k)) for k in ("required", "optional", "computed")}
    if "nested" in spec:
        nesting = {"single": 1, "list": 2, "set": 3, "map": 4}[spec["nested"]["nesting"]]
        inner = [_attribute(pb, n, a) for n, a in spec["nested"]["attributes"].items()]
        obj = pb.Schema.Object(attributes=inner, nesting=nesting)
        return pb.Schema.Attribute(name=name, nested_type=obj, **flags)
    return pb.Schema.Attribute(name=name, type=json.dumps(spec["type"]).encode(), **flags)


def _decode(value: Any) -> Any:
    if not value.msgpack:
        return None
    return msgpack.unpackb(value.msgpack, ext_hook=lambda code, data: UNKNOWN, raw=False)


def _placeholder(cty: Any) -> Any:
    if cty == "string":
        return "placeholder"
    if cty == "number":
        return 0
    if cty == "bool":
        return False
    if isinstance(cty, list) and cty[0] == "map":
        return {}
    if isinstance(cty, list):
        return []
    return None


class SchemaOnlyProvider:
    """The tfplugin6.Provider service for one provider's schema."""

    def __init__(self, pb: ModuleType, schema: dict[str, Any]) -> None:
        self.pb = pb
        self.schema = schema
        self._response = pb.GetProviderSchema.Response(
            provider=pb.Schema(block=_block(pb, schema["provider"])),
            resource_schemas={
                k: pb.Schema(block=_block(pb, v)) for k, v in schema["resources"].items()
            },
            data_source_schemas={
                k: pb.Schema(block=_block(pb, v)) for k, v in schema["data_sources"].items()
            },
        )

    def _encode(self, value: Any) -> Any:
        return self.pb.DynamicValue(msgpack=msgpack.packb(value, use_bin_type=True))

    def GetProviderSchema(self, request: Any, context: Any) -> Any:
        return self._response

    def ValidateProviderConfig(self, request: Any, context: Any) -> Any:
        return self.pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request: Any, context: Any) -> Any:
        return self.pb.ValidateResourceConfig.Response()

    def ValidateDataResourceConfig(self, request: Any, context: Any) -> Any:
        return self.pb.ValidateDataResourceConfig.Response()

    def ConfigureProvider(self, request: Any, context: Any) -> Any:
        return self.pb.ConfigureProvider.Response()

    def UpgradeResourceState(self, request: Any, context: Any) -> Any:
        state = json.loads(request.raw_state.json or b"null")
        return self.pb.UpgradeResourceState.Response(upgraded_state=self._encode(state))

    def ReadResource(self, request: Any, context: Any) -> Any:
        return self.pb.ReadResource.Response(new_state=request.current_state)

    def PlanResourceChange(self, request: Any, context: Any) -> Any:
        proposed = _decode(request.proposed_new_state)
        if proposed is None:  # a destroy
            return self.pb.PlanResourceChange.Response(planned_state=request.proposed_new_state)
        prior = _decode(request.prior_state) or {}
        attributes = self.schema["resources"][request.type_name]["attributes"]
        for name, spec in attributes.items():
            if spec.get("computed") and proposed.get(name) is None:
                proposed[name] = prior.get(name, UNKNOWN)
        return self.pb.PlanResourceChange.Response(planned_state=self._encode(proposed))

    def ApplyResourceChange(self, request: Any, context: Any) -> Any:
        error = self.pb.Diagnostic(
            severity=self.pb.Diagnostic.ERROR,
            summary="This provider only serves schemas",
            detail="It exists so that validate, test and plan run offline; apply with the real provider.",
        )
        return self.pb.ApplyResourceChange.Response(diagnostics=[error])

    def ReadDataSource(self, request: Any, context: Any) -> Any:
        config = _decode(request.config) or {}
        attributes = self.schema["data_sources"][request.type_name]["attributes"]
        for name, spec in attributes.items():
            if spec.get("computed") and config.get(name) is None and "type" in spec:
                config[name] = _placeholder(spec["type"])
        return self.pb.ReadDataSource.Response(state=self._encode(config))

    def StopProvider(self, request: Any, context: Any) -> Any:
        return self.pb.StopProvider.Response()


class ProviderServers:
    """Every provider in `providers` served on its own loopback port, in this process."""

    def __init__(self, providers: tuple[Provider, ...] = PROVIDERS) -> None:
        pb, pb_grpc = protocol()
        # The generated base answers UNIMPLEMENTED for every RPC this provider leaves out.
        servicer = type("Servicer", (SchemaOnlyProvider, pb_grpc.ProviderServicer), {})
        self._servers: list[grpc.Server] = []
        self.reattach: dict[str, Any] = {}
        for provider in providers:
            server = grpc.server(
                futures.ThreadPoolExecutor(max_workers=4),
                options=[("grpc.max_send_message_length", 64 << 20)],
            )
            pb_grpc.add_ProviderServicer_to_server(servicer(pb, load(provider)), server)
            port = server.add_insecure_port("127.0.0.1:0")
            server.start()
            self._servers.append(server)
            self.reattach[provider.source] = {
                "Protocol": "grpc",
                "ProtocolVersion": 6,
                "Pid": os.getpid(),
                "Test": True,  # without it Terraform assumes protocol 5
                "Addr": {"Network": "tcp", "String": f"127.0.0.1:{port}"},
            }

    @property
    def env(self) -> dict[str, str]:
        return {"TF_REATTACH_PROVIDERS": json.dumps(self.reattach)}

    def stop(self) -> None:
        for server in self._servers:
            server.stop(grace=None)


def main() -> None:
    servers = ProviderServers()
    print(f"export TF_REATTACH_PROVIDERS='{servers.env['TF_REATTACH_PROVIDERS']}'", flush=True)
    print("# serving schemas until interrupted", file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        servers.stop()


if __name__ == "__main__":
    main()
