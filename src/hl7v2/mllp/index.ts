export { encodeFrame, MllpDecoder, VT, FS, CR, type FrameEvent } from './framing.js';
export { createMllpServer, type MllpServer, type MllpServerOptions, type ConnectionInfo } from './server.js';
export { createMllpListener, channelContext, type MllpListenerOptions } from './listener.js';
export { connectMllp, type MllpClient, type MllpClientOptions } from './client.js';
