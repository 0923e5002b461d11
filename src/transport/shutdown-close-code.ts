/** Close code sent to every WebSocket client when the server shuts down (RFC 6455 "going away"). */
export const SHUTDOWN_CLOSE_CODE = 1001;
