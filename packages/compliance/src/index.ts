export { memory, memoryPair, type MemoryTransportOptions, type MemoryHub } from '@ms/core'
export { transportSuite, transformSuite, type TransportSuiteSetup, type TransformSuiteSetup } from './suite.js'
export { readAll, writeAll, echo, patternBytes, firstDifference } from './streams.js'
export { activeResources, leakedSince, waitForNoLeaks, waitUntil } from './handles.js'
