export * from './interfaces.js'
export * from './socket.js'
