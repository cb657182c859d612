/** The end of the example workflow: print what reached the chat. */
export default async function showMessage(event, ctx) {
  ctx.log.info({ text: event.data.text }, `chat message: ${event.data.text}`);
}
