/*
 * django_websocket's browser client as an ES module:
 *     import { DjangoWebSocket } from "/static/django_websocket/client.esm.js";
 * The client itself is client.js (which this loads); see there.
 */
import "./client.js";

const { DjangoWebSocket } = globalThis;

export { DjangoWebSocket };
export default DjangoWebSocket;
