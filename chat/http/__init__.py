"""HTTP, a front door: the Quart-Trio app (`app`: routes only, no tasks, one module per
resource translating requests into `chat.app.service.ChatService` calls) and the Hypercorn
connection server (`server`). It does not know the WebSocket door (`chat.ws`)."""
