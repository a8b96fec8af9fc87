#!/usr/bin/env python3
"""An MCP client built on the official Python SDK (`mcp` 2.x), for the end-to-end suite.

It connects to a streamable HTTP MCP endpoint with an `Authorization: Bearer <token>` header,
performs the steps named on the command line in order, and prints one JSON object per line on
stdout: first a `connect` object, then one object per step.

    python client.py --url http://127.0.0.1:8787/mcp STEP...
    (the token comes from the environment variable MCP_TOKEN, or --token)

Steps:
    list-tools                     {"step": "list-tools", "ok": true, "tools": [names]}
    list-prompts                   {"step": "list-prompts", "ok": true, "prompts": [names]}
    list-resources                 {"step": "list-resources", "ok": true, "resources": [uris]}
    list-resource-templates        {"step": "list-resource-templates", "ok": true, "templates": [uriTemplates]}
    call-tool NAME [JSON_ARGS]     {"step": "call-tool", "name": NAME, "ok": true, "result": {...}}
    read-resource URI              {"step": "read-resource", "uri": URI, "ok": true, "result": {...}}
    get-prompt NAME [JSON_ARGS]    {"step": "get-prompt", "name": NAME, "ok": true, "result": {...}}

A step that fails prints `"ok": false` with `"error"` ({code, message, data} of the MCP error, or
{type, message} of another exception) and `"http"`: the HTTP answers of status >= 400 the SDK
received during that step, each {status, www_authenticate, body} (the SDK itself turns a 401/403
without a JSON-RPC body into a generic JSON-RPC error, so the transport's HTTP client records them
with an httpx event hook). Every object also carries `"exchanges"`: the JSON-RPC methods POSTed
during the step with their HTTP status, so a test can see e.g. the `server/discover` probe.

Exit status: 0 when the connection was made (step failures are reported, not fatal), 1 when the
connection failed (the `connect` object then says why), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
import sys
import traceback
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

STEPS_WITH_NAME = {"call-tool", "get-prompt", "read-resource"}
STEPS_WITH_ARGS = {"call-tool", "get-prompt"}
STEPS_PLAIN = {"list-tools", "list-prompts", "list-resources", "list-resource-templates"}


class Recorder:
    """httpx2 event hooks: every JSON-RPC POST and every HTTP answer >= 400, per step."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []

    def take(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        exchanges, errors = self.exchanges, self.errors
        self.exchanges, self.errors = [], []
        return exchanges, errors

    async def on_response(self, response: httpx2.Response) -> None:
        request = response.request
        rpc_method = None
        if request.method == "POST":
            try:
                body = json.loads(request.content or b"null")
                if isinstance(body, dict):
                    rpc_method = body.get("method") or ("(response)" if "id" in body else None)
                elif isinstance(body, list):
                    rpc_method = "(batch)"
            except (ValueError, httpx2.RequestNotRead):
                pass
        self.exchanges.append({"http_method": request.method, "rpc_method": rpc_method, "status": response.status_code})
        if response.status_code >= 400:
            text = None
            try:
                text = (await response.aread()).decode("utf-8", "replace")[:2000]
            except Exception:  # a body that cannot be read is reported without it
                pass
            self.errors.append(
                {
                    "status": response.status_code,
                    "http_method": request.method,
                    "rpc_method": rpc_method,
                    "www_authenticate": response.headers.get("www-authenticate"),
                    "body": text,
                }
            )


def parse_steps(words: list[str]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    i = 0
    while i < len(words):
        kind = words[i]
        i += 1
        if kind in STEPS_PLAIN:
            steps.append({"step": kind})
        elif kind in STEPS_WITH_NAME:
            if i >= len(words):
                raise SystemExit(f"usage: {kind} needs an argument")
            step: dict[str, Any] = {"step": kind, ("uri" if kind == "read-resource" else "name"): words[i]}
            i += 1
            if kind in STEPS_WITH_ARGS and i < len(words) and words[i].lstrip().startswith("{"):
                step["arguments"] = json.loads(words[i])
                i += 1
            steps.append(step)
        else:
            raise SystemExit(f"usage: unknown step {kind!r}")
    return steps


def error_of(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, MCPError):
        return {"type": "MCPError", "code": exc.code, "message": exc.message, "data": exc.data}
    # anyio task groups wrap errors; report the innermost first error.
    group = getattr(builtins, "BaseExceptionGroup", ())  # Python >= 3.11
    while group and isinstance(exc, group) and exc.exceptions:
        exc = exc.exceptions[0]
        if isinstance(exc, MCPError):
            return error_of(exc)
    return {"type": type(exc).__name__, "message": str(exc)}


def dump(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


async def list_all(fetch, member: str) -> list[Any]:
    """Every page of a list method (bounded)."""
    items: list[Any] = []
    cursor = None
    for _ in range(100):
        page = await fetch(cursor=cursor, cache_mode="bypass")
        items.extend(getattr(page, member))
        cursor = page.next_cursor
        if not cursor:
            break
    return items


async def run_step(client: Client, step: dict[str, Any]) -> dict[str, Any]:
    kind = step["step"]
    if kind == "list-tools":
        tools = await list_all(client.list_tools, "tools")
        return {"tools": [t.name for t in tools]}
    if kind == "list-prompts":
        prompts = await list_all(client.list_prompts, "prompts")
        return {"prompts": [p.name for p in prompts]}
    if kind == "list-resources":
        resources = await list_all(client.list_resources, "resources")
        return {"resources": [str(r.uri) for r in resources]}
    if kind == "list-resource-templates":
        templates = await list_all(client.list_resource_templates, "resource_templates")
        return {"templates": [t.uri_template for t in templates]}
    if kind == "call-tool":
        result = await client.call_tool(step["name"], step.get("arguments") or {})
        return {"result": dump(result)}
    if kind == "read-resource":
        result = await client.read_resource(step["uri"])
        return {"result": dump(result)}
    if kind == "get-prompt":
        result = await client.get_prompt(step["name"], step.get("arguments") or {})
        return {"result": dump(result)}
    raise AssertionError(kind)


async def main_async(args: argparse.Namespace, steps: list[dict[str, Any]]) -> int:
    recorder = Recorder()
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    http_client = httpx2.AsyncClient(
        headers=headers,
        timeout=httpx2.Timeout(args.timeout, read=args.timeout),
        event_hooks={"response": [recorder.on_response]},
    )
    async with http_client:
        transport = streamable_http_client(args.url, http_client=http_client)
        client = Client(transport, mode=args.mode, read_timeout_seconds=args.timeout)
        try:
            await client.__aenter__()
        except BaseException as exc:  # noqa: BLE001 - reported, then exit 1
            exchanges, errors = recorder.take()
            emit({"step": "connect", "ok": False, "error": error_of(exc), "http": errors, "exchanges": exchanges})
            if args.debug:
                traceback.print_exc()
            return 1
        try:
            info = client.server_info
            exchanges, errors = recorder.take()
            emit(
                {
                    "step": "connect",
                    "ok": True,
                    "protocol_version": client.protocol_version,
                    "server": info.name if info else None,
                    "http": errors,
                    "exchanges": exchanges,
                }
            )
            for step in steps:
                out = dict(step)
                try:
                    out.update(await run_step(client, step))
                    out["ok"] = True
                except Exception as exc:  # noqa: BLE001 - every step is reported
                    out["ok"] = False
                    out["error"] = error_of(exc)
                    if args.debug:
                        traceback.print_exc()
                out["exchanges"], out["http"] = recorder.take()
                emit(out)
        finally:
            try:
                await client.__aexit__(None, None, None)
            except Exception:  # closing errors do not change the steps' outcome
                if args.debug:
                    traceback.print_exc()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the MCP endpoint, e.g. http://127.0.0.1:8787/mcp")
    parser.add_argument("--token", default=os.environ.get("MCP_TOKEN"), help="bearer token (default: $MCP_TOKEN)")
    parser.add_argument(
        "--mode",
        default="auto",
        help="the SDK's connect mode: auto (server/discover, then initialize) or legacy (initialize)",
    )
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per HTTP request and per MCP request")
    parser.add_argument("--debug", action="store_true", help="tracebacks on stderr")
    parser.add_argument("steps", nargs=argparse.REMAINDER, help="steps (see above)")
    args = parser.parse_args()
    try:
        steps = parse_steps(args.steps)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    return anyio.run(main_async, args, steps)


if __name__ == "__main__":
    sys.exit(main())
