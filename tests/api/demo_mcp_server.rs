//! Demo MCP server checks (filled in by its own change).
