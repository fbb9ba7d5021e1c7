"""The user guide's Copilot chat bot, as written there (event queues, custom status,
continue-as-new); used by the spec-example test and the event-queue tests."""

import json


def register_chat_bot(runtime):
    @runtime.register_activity("Generate")
    def generate(ctx, text):
        # Call an LLM or generate a response
        return f"Echo: {text}"

    @runtime.register_orchestration("ChatBot")
    def chat_bot(ctx, input):
        # Wait for next message on the "inbox" queue
        msg_json = yield ctx.dequeue_event("inbox")
        msg = json.loads(msg_json)

        # Process the message
        response = yield ctx.schedule_activity("Generate", msg["text"])

        # Report the response via custom status
        ctx.set_custom_status(json.dumps({
            "state": "replied",
            "response": response,
            "seq": msg["seq"],
        }))

        # Exit on "bye", otherwise loop
        if "bye" in msg["text"].lower():
            return f"Done after {msg['seq']} msgs"

        # Restart with fresh history (messages survive continue-as-new)
        return (yield ctx.continue_as_new(""))
