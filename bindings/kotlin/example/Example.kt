// A durable workflow written in Kotlin on a SQLite file, and the cross-language checks
// (tests/test_kotlin.py runs it against instances a Python runtime handles).
//
// Commands (several may follow each other in one run):
//   workflow DB                   run the Kotlin orchestration to completion and check it
//   read DB INSTANCE EXPECTED     read an instance's state; check Completed with output EXPECTED (JSON)
//   start DB INSTANCE NAME INPUT  start an instance of orchestration NAME (INPUT is JSON)
// Exit status 0 when every check passed; each command prints one line starting with "OK" or "FAIL".
package duroxide.example

import duroxide.DurableClient
import duroxide.Json
import duroxide.Orchestration
import duroxide.Status
import duroxide.TaskFailedException
import duroxide.Worker
import kotlin.system.exitProcess
import uniffi.duroxide.Provider

/** Two activities in sequence, a failing activity that is caught, a timer, an external event. */
val order = Orchestration { ctx, input ->
    val request = input as Map<*, *>
    val item = request["item"] as String
    val reservation = ctx.scheduleActivity("Reserve", item) as String
    val charge = ctx.scheduleActivity("Charge", mapOf("reservation" to reservation, "amount" to request["amount"])) as String
    val recovered = try {
        ctx.scheduleActivity("Flaky", item)
        "no failure"
    } catch (e: TaskFailedException) {
        "caught: ${e.message}"
    }
    ctx.scheduleTimer(50)
    ctx.setCustomStatus("awaiting approval")
    val approval = ctx.waitForEvent("approved") as Map<*, *>
    ctx.trace("info", "order $item approved by ${approval["by"]}")
    mapOf("item" to item, "reservation" to reservation, "charge" to charge, "recovered" to recovered, "approved_by" to approval["by"])
}

val expectedOrder = mapOf(
    "item" to "book",
    "reservation" to "reserved:book",
    "charge" to "charged 42 for reserved:book",
    "recovered" to "caught: out of stock: book",
    "approved_by" to "kotlin",
)

fun workflow(db: String): Boolean {
    val provider = Provider.openSqlite(db)
    val config = Worker.defaultConfig().apply {
        dispatcherPollIntervalMs = 20uL
        logLevel = "error" // the Flaky activity's failure is expected
    }
    val worker = Worker(provider, config)
        .orchestration("KotlinOrder", body = order)
        .activity("Reserve") { _, input -> "reserved:$input" }
        .activity("Charge") { ctx, input ->
            val args = input as Map<*, *>
            ctx.trace("info", "charging ${args["amount"]}")
            "charged ${args["amount"]} for ${args["reservation"]}"
        }
        .activity("Flaky") { _, input -> throw IllegalStateException("out of stock: $input") }
        .start()
    try {
        DurableClient(provider).use { client ->
            val id = "kotlin-order-1"
            client.startOrchestration(id, "KotlinOrder", mapOf("item" to "book", "amount" to 42))
            val deadline = System.currentTimeMillis() + 30_000
            while (client.getStatus(id).customStatus != "awaiting approval") {
                check(System.currentTimeMillis() < deadline) { "the orchestration never reached the event" }
                Thread.sleep(20)
            }
            client.raiseEvent(id, "approved", mapOf("by" to "kotlin"))
            val state = client.waitForOrchestration(id, 30_000)
            val ok = state.status == Status.Completed && state.output == expectedOrder
            println("${if (ok) "OK" else "FAIL"} workflow $id ${state.status} ${Json.encode(state.output ?: state.error)}")
            return ok
        }
    } finally {
        worker.shutdown(1000)
    }
}

fun read(db: String, instanceId: String, expected: String): Boolean =
    DurableClient(Provider.openSqlite(db)).use { client ->
        val state = client.getStatus(instanceId)
        val ok = state.status == Status.Completed && state.output == Json.decode(expected)
        println("${if (ok) "OK" else "FAIL"} read $instanceId ${state.status} ${Json.encode(state.output ?: state.error)}")
        ok
    }

fun start(db: String, instanceId: String, name: String, input: String): Boolean =
    DurableClient(Provider.openSqlite(db)).use { client ->
        client.startOrchestration(instanceId, name, Json.decode(input))
        val state = client.getStatus(instanceId)
        println("OK start $instanceId $name ${state.status}")
        true
    }

fun main(args: Array<String>) {
    var ok = true
    var i = 0
    while (i < args.size) {
        val arity = mapOf("workflow" to 1, "read" to 3, "start" to 4)[args[i]]
        if (arity == null || i + arity >= args.size) {
            System.err.println("usage: workflow DB | read DB INSTANCE EXPECTED | start DB INSTANCE NAME INPUT (got ${args.drop(i)})")
            exitProcess(2)
        }
        val a = args.sliceArray(i + 1..i + arity)
        ok = when (args[i]) {
            "workflow" -> workflow(a[0])
            "read" -> read(a[0], a[1], a[2])
            else -> start(a[0], a[1], a[2], a[3])
        } && ok
        i += arity + 1
    }
    uniffi.duroxide.shutdownAll(1000uL)
    exitProcess(if (ok) 0 else 1)
}
