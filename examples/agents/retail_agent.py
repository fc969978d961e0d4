"""A customer-service agent built on the OpenAI Agents SDK, served so that `ugst run --agent-url`
can test it as a black box.

The agent runs its own model (any OpenAI-compatible server: --model-url, --model) and acts through
the tools of the conversation it is in: ugst names that conversation's MCP endpoint in each request
(`metadata.ugst_tools_url`, header `X-Ugst-Tools-Url`), and the agent connects to it with the SDK's
streamable-HTTP MCP client. Two faces:

  python examples/agents/retail_agent.py --port 9000 --model-url http://127.0.0.1:8080/v1 \
      --instructions ../shared/data/tau_bench/retail/wiki.md
      -> OpenAI-compatible chat:  ugst run --agent-url http://127.0.0.1:9000/v1 ...
  ... --a2a
      -> an A2A agent (a2a-sdk 1.x server: agent card + JSON-RPC):
         ugst run --agent-url http://127.0.0.1:9000 --agent-protocol a2a ...

Needs: openai-agents, a2a-sdk[http-server], uvicorn (python/interop-requirements.txt).
"""

import argparse
import contextlib
import json
import time
import uuid

import httpx
import uvicorn
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    Runner,
    set_tracing_disabled,
)
from agents.mcp import MCPServerStreamableHttp
from openai import AsyncOpenAI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class TextToolResults(httpx.AsyncHTTPTransport):
    """Sends tool results as plain strings and tool-calling turns with empty content: the SDK
    sends an MCP result as a list of content parts and a tool call with `content: null`, which
    OpenAI accepts and llama-cpp-python's server (0.3.36) refuses with a 500."""

    async def handle_async_request(self, request):
        if request.method == "POST" and request.url.path.endswith("/chat/completions"):
            body = json.loads(request.content)
            for m in body.get("messages", []):
                if m.get("role") == "tool" and isinstance(m.get("content"), list):
                    m["content"] = "".join(p.get("text", "") for p in m["content"])
                if m.get("role") == "assistant" and m.get("content") is None:
                    m["content"] = ""  # it refuses a null beside tool_calls too
            content = json.dumps(body).encode()
            headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(content)).encode()))
            request = httpx.Request(request.method, request.url, headers=headers, content=content)
        return await super().handle_async_request(request)


class RetailAgent:
    """One Agents SDK agent per turn, on this conversation's MCP tools."""

    def __init__(self, model_url, model, api_key, instructions, max_steps):
        http = httpx.AsyncClient(transport=TextToolResults(), timeout=600)
        self.client = AsyncOpenAI(base_url=model_url, api_key=api_key or "none", http_client=http)
        self.model = model
        self.instructions = instructions
        self.max_steps = max_steps
        self.turns = 0
        self.tool_calls = 0
        self.contexts = {}

    async def answer(self, messages, tools_url):
        """`messages`: user/assistant turns so far, ending with the user's."""
        async with contextlib.AsyncExitStack() as stack:
            servers = []
            if tools_url:
                server = MCPServerStreamableHttp(
                    params={"url": tools_url, "timeout": 60},
                    cache_tools_list=True,
                    client_session_timeout_seconds=120,
                    name="ugst-tools",
                )
                await stack.enter_async_context(server)
                servers.append(server)
            agent = Agent(
                name="retail-agent",
                instructions=self.instructions,
                model=OpenAIChatCompletionsModel(model=self.model, openai_client=self.client),
                mcp_servers=servers,
                # Said outright: llama-cpp-python's chatml-function-calling format offers the
                # tools only when the request names a tool choice.
                model_settings=ModelSettings(tool_choice="auto" if servers else None),
            )
            try:
                result = await Runner.run(agent, input=messages, max_turns=self.max_steps)
                reply = str(result.final_output or "").strip()
                self.tool_calls += sum(
                    1 for item in result.new_items if item.type == "tool_call_item"
                )
                if not reply:
                    # A small model sometimes ends its turn without a word: ask it once more,
                    # with what its tools returned, to answer in words only.
                    words = agent.clone(mcp_servers=[], model_settings=ModelSettings())
                    again = await Runner.run(words, input=result.to_input_list(), max_turns=1)
                    reply = str(again.final_output or "").strip()
            except Exception as e:  # the SDK's own limit, a model error: say so to the user
                reply = f"Sorry, I could not finish that ({type(e).__name__})."
            self.turns += 1
            return reply or "Sorry, could you say that again?"


def chat_routes(agent):
    async def completions(request: Request):
        body = await request.json()
        meta = body.get("metadata") or {}
        tools_url = meta.get("ugst_tools_url") or request.headers.get("x-ugst-tools-url")
        messages = [
            {"role": m["role"], "content": m.get("content") or ""}
            for m in body.get("messages", [])
            if m.get("role") in ("user", "assistant")
        ]
        if not messages or messages[-1]["role"] != "user":
            return JSONResponse({"error": {"message": "the last message must be the user's"}}, 400)
        reply = await agent.answer(messages, tools_url)
        return JSONResponse({
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "retail-agent"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": reply}}],
        })

    async def models(_request):
        return JSONResponse({"object": "list", "data": [{"id": "retail-agent", "object": "model"}]})

    return [
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/v1/models", models),
    ]


def a2a_routes(agent, base_url):
    from a2a.helpers.proto_helpers import get_message_text, new_text_message
    from a2a.server.agent_execution import AgentExecutor
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.server.tasks import InMemoryTaskStore
    from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
    from google.protobuf.json_format import MessageToDict

    histories = agent.contexts  # conversation history by A2A context id

    class Executor(AgentExecutor):
        async def execute(self, context, event_queue):
            text = get_message_text(context.message)
            meta = dict(context.metadata or {})
            if context.message.HasField("metadata"):
                meta.update(MessageToDict(context.message.metadata))
            history = histories.setdefault(context.context_id, [])
            history.append({"role": "user", "content": text})
            reply = await agent.answer(list(history), meta.get("ugst_tools_url"))
            history.append({"role": "assistant", "content": reply})
            await event_queue.enqueue_event(
                new_text_message(reply, context_id=context.context_id, task_id=context.task_id)
            )

        async def cancel(self, context, event_queue):
            raise NotImplementedError("this agent answers at once; nothing to cancel")

    card = AgentCard(
        name="retail-agent",
        description="A retail customer-service agent (OpenAI Agents SDK) on ugst's MCP tools.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=f"{base_url}/a2a", protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="retail", name="retail support", tags=["retail"],
                           description="Orders: look-ups, cancellations, returns, exchanges.")],
    )
    handler = DefaultRequestHandler(
        agent_executor=Executor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    return create_agent_card_routes(card) + create_jsonrpc_routes(handler, "/a2a")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--model-url", required=True, help="OpenAI-compatible server of the agent's model")
    p.add_argument("--model", default="agent-model")
    p.add_argument("--api-key", default=None)
    p.add_argument("--instructions", help="a file with the agent's policy (e.g. τ-retail's wiki.md)")
    p.add_argument("--max-steps", type=int, default=8, help="model calls per turn (the SDK's max_turns)")
    p.add_argument("--a2a", action="store_true", help="serve as an A2A agent instead of a chat endpoint")
    a = p.parse_args()
    set_tracing_disabled(True)  # no traces leave the machine
    instructions = "You are a helpful retail customer-service agent."
    if a.instructions:
        with open(a.instructions, encoding="utf-8") as f:
            instructions = f.read()
    agent = RetailAgent(a.model_url, a.model, a.api_key, instructions, a.max_steps)
    base = f"http://{a.host}:{a.port}"
    routes = a2a_routes(agent, base) if a.a2a else chat_routes(agent)

    async def stats(_request):
        return JSONResponse({"turns": agent.turns, "tool_calls": agent.tool_calls,
                             "a2a_contexts": len(agent.contexts)})

    routes.append(Route("/stats", stats))
    uvicorn.run(Starlette(routes=routes), host=a.host, port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
