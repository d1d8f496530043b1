import { parseMultiAddress, stringifyMultiAddress } from '@ms/core'

// `;` separates alternatives, `~` stacks a transform on a transport, `:` separates data.
const address = 'net:10.0.0.5:8008~shs:KEY;ws://pub.example.com:80~shs:KEY;onion:NAME.onion:8008~shs:KEY'
const alternatives = parseMultiAddress(address)
// [[{ name: 'net', data: ['10.0.0.5', '8008'] }, { name: 'shs', data: ['KEY'] }], ...]
console.log(alternatives[0])

// Data may contain the special characters when escaped with "!": `!:`, `!~`, `!;`, `!!`.
const unixAddress = parseMultiAddress('unix:/tmp/a!;b.sock~noauth')
console.log(unixAddress[0]![0]!.data) // ['/tmp/a;b.sock']
console.log(stringifyMultiAddress(alternatives) === address) // true: parsing round-trips
