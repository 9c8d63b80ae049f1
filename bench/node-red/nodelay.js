// Preloaded with `node --require` for make bench's second Node-RED run only:
// sets TCP_NODELAY on every TCP socket Node-RED opens (its MQTT client,
// MQTT.js over net.Socket, leaves Nagle's algorithm on). Not part of the
// Node-RED being compared; it shows what Node-RED costs without the ~40 ms
// delayed-ACK stall.
'use strict';
const net = require('net');
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
    this.setNoDelay(true);
    return connect.apply(this, args);
};
