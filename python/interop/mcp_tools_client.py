"""The official MCP Python SDK (package `mcp`) as a client of `ugst serve tools`: lists the
τ-retail tools and calls them over stdio (the SDK starts the server) and over streamable HTTP,
then prints one JSON line per transport with what it saw.

  python mcp_tools_client.py stdio UGST_BIN DATA
  python mcp_tools_client.py http URL            (URL: http://host:port/mcp/<session>)
"""

import asyncio
import json
import sys

from mcp import Client, StdioServerParameters

# A real τ-retail task's look-up and exchange (test task 0's gold actions).
LOOKUP = ("find_user_id_by_name_zip", {"first_name": "Yusuf", "last_name": "Rossi", "zip": "19122"})
EXCHANGE = ("exchange_delivered_order_items", {
    "order_id": "#W2378156", "item_ids": ["1151293680", "4983901480"],
    "new_item_ids": ["7706410293", "7747408585"], "payment_method_id": "credit_card_9513926"})
BAD = ("get_order_details", {"order_id": "#W0000000"})


def text(result):
    return "".join(getattr(c, "text", "") for c in result.content)


async def exercise(server):
    async with Client(server) as client:
        tools = await client.list_tools()
        schemas = {t.name: t.input_schema for t in tools.tools}
        found = await client.call_tool(*LOOKUP)
        exchanged = await client.call_tool(*EXCHANGE)
        missing = await client.call_tool(*BAD)
        return {
            "tools": sorted(schemas),
            "lookup_schema_required": schemas[LOOKUP[0]].get("required"),
            "lookup": text(found),
            "lookup_error": bool(found.is_error),
            "exchange_error": bool(exchanged.is_error),
            "exchange": text(exchanged)[:200],
            "missing": text(missing),
            "missing_error": bool(missing.is_error),
        }


def main():
    how = sys.argv[1]
    if how == "stdio":
        server = StdioServerParameters(command=sys.argv[2], args=[
            "serve", "tools", "--env", "tau-retail", "--data", sys.argv[3], "--stdio"])
    else:
        server = sys.argv[2]
    out = asyncio.run(exercise(server))
    out["transport"] = how
    print(json.dumps(out))


if __name__ == "__main__":
    main()
