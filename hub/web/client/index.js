// @livehub/client: placeholder until the client lands (see docs/client.md).
export {};
