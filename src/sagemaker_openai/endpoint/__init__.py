"""The client side: call a chat endpoint (client), print to a terminal (console), and check
any server against the wire contract (exchange, check/). Nothing here imports the server."""
