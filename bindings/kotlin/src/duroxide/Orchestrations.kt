// Orchestrations as Kotlin suspend functions, driven through the same callback interface
// the Python SDK implements (OrchestrationStepper in udl/duroxide.udl).
//
// A Kotlin coroutine is the generator of the step protocol: each durable call (activity,
// timer, event, ...) suspends it and hands Rust a "yield" step; Rust resumes it with the
// task's outcome when the history has one. The coroutine runs on the Rust thread that
// calls start/resume (no dispatcher, no kotlinx-coroutines), so a call returns exactly
// when the orchestration suspends again or ends.
package duroxide

import java.util.concurrent.ConcurrentHashMap
import kotlin.coroutines.Continuation
import kotlin.coroutines.CoroutineContext
import kotlin.coroutines.EmptyCoroutineContext
import kotlin.coroutines.resume
import kotlin.coroutines.resumeWithException
import kotlin.coroutines.startCoroutine
import kotlin.coroutines.suspendCoroutine
import uniffi.duroxide.OrchestrationInfo
import uniffi.duroxide.OrchestrationStepper
import uniffi.duroxide.OrchestrationContext as NativeOrchestrationContext

/** An orchestration: deterministic code that only waits on [OrchestrationScope] calls. */
fun interface Orchestration {
    suspend fun run(ctx: OrchestrationScope, input: Any?): Any?
}

/** A durable task failed (an activity threw, a sub-orchestration failed, ...). Uncaught,
 * it fails the orchestration with the same message. */
class TaskFailedException(message: String) : RuntimeException(message)

/** Thrown into a suspended orchestration that the runtime no longer needs (its `finally`
 * blocks run); never seen by an orchestration that runs to its end. */
class OrchestrationReleased : RuntimeException("the runtime released this orchestration")

/** What an orchestration may do. Every suspend function is a durable step: its result is
 * recorded in the instance's history and replayed from there. */
class OrchestrationScope internal constructor(
    private val native: NativeOrchestrationContext,
    /** The instance, execution and orchestration name/version this code runs for. */
    val info: OrchestrationInfo,
    private val live: Live,
) {
    /** True while the code re-runs steps the history already has. */
    val isReplaying: Boolean get() = native.isReplaying()

    /** Calls activity [name] with [input] (JSON-encoded); its decoded result. */
    suspend fun scheduleActivity(name: String, input: Any?): Any? =
        Json.decode(step("""{"t": "activity", "name": ${Json.quote(name)}, "input": ${Json.quote(Json.encode(input))}}"""))

    /** A durable timer: resumes after [ms] milliseconds (of the store's clock). */
    suspend fun scheduleTimer(ms: Long) {
        require(ms >= 0) { "a timer's delay is not negative, got $ms" }
        step("""{"t": "timer", "ms": $ms}""")
    }

    /** Waits for external event [name] (Client.raiseEvent); its decoded data. */
    suspend fun waitForEvent(name: String): Any? =
        Json.decode(step("""{"t": "wait", "name": ${Json.quote(name)}}"""))

    /** Runs orchestration [name] as a child and waits for its decoded result. */
    suspend fun scheduleSubOrchestration(name: String, input: Any?): Any? =
        Json.decode(step("""{"t": "sub", "name": ${Json.quote(name)}, "input": ${Json.quote(Json.encode(input))}}"""))

    /** A deterministic GUID (recorded). */
    suspend fun newGuid(): String = Json.decode(step("""{"t": "guid"}""")) as String

    /** The store clock's time in ms since the epoch (recorded). */
    suspend fun utcNowMs(): Long = (Json.decode(step("""{"t": "now"}""")) as Number).toLong()

    /** A log line from the orchestration, suppressed while replaying. */
    fun trace(level: String, message: String) = native.trace(level, message)

    fun setCustomStatus(status: String) = native.setCustomStatus(status)

    fun setKvValue(key: String, value: String) = native.setKvValue(key, value)

    fun getKvValue(key: String): String? = native.getKvValue(key)

    /** Suspends with [task] (the step protocol's task JSON); the outcome's payload text. */
    private suspend fun step(task: String): String {
        val at = callerLocation()
        val outcome = suspendCoroutine<Outcome> { continuation ->
            live.pending = continuation
            live.step = """{"yield": {"task": $task, "at": ${if (at == null) "null" else Json.quote(at)}}}"""
        }
        return when (outcome.kind) {
            VALUE -> outcome.payload
            ERROR -> throw TaskFailedException(outcome.payload)
            else -> throw IllegalStateException("outcome kind ${outcome.kind} is not used by this layer")
        }
    }

    private fun callerLocation(): String? =
        Throwable().stackTrace.firstOrNull { it.className.substringBefore('$') != OrchestrationScope::class.java.name }
            ?.let { "${it.fileName}:${it.lineNumber}" }

    internal companion object {
        const val VALUE: Int = 0
        const val ERROR: Int = 1
    }
}

internal class Outcome(val kind: Int, val payload: String)

/** One orchestration coroutine between its steps. */
internal class Live(val name: String) {
    var pending: Continuation<Outcome>? = null
    /** The step JSON the coroutine produced last (a yield, a return or a failure). */
    var step: String? = null
    var ended = false
}

/** The OrchestrationStepper that runs Kotlin [Orchestration]s; `lookup(name, version)`. */
class KotlinStepper(private val lookup: (String, String) -> Orchestration?) : OrchestrationStepper {
    private val live = ConcurrentHashMap<ULong, Live>()

    // The callbacks never throw into Rust: a failure of user code is a failed step.

    override fun start(generatorId: ULong, ctx: NativeOrchestrationContext, info: OrchestrationInfo, input: String): String {
        val name = "${info.orchestrationName}@${info.orchestrationVersion}"
        val orchestration = lookup(info.orchestrationName, info.orchestrationVersion)
            ?: return fail("orchestration '$name' is not registered in this process")
        val value = try {
            Json.decode(input)
        } catch (e: IllegalArgumentException) {
            return fail("orchestration '$name' cannot take its input: ${e.message}")
        }
        val state = Live(name)
        val scope = OrchestrationScope(ctx, info, state)
        val body: suspend () -> Any? = { orchestration.run(scope, value) }
        body.startCoroutine(Ended(state))
        return taken(generatorId, state)
    }

    override fun resume(generatorId: ULong, outcomeKind: UByte, payload: String): String {
        val state = live[generatorId] ?: return fail("internal error: generator $generatorId is unknown to the Kotlin stepper")
        val continuation = state.pending ?: return fail("internal error: generator $generatorId is not suspended")
        state.pending = null
        continuation.resume(Outcome(outcomeKind.toInt(), payload))
        return taken(generatorId, state)
    }

    override fun release(generatorId: ULong) {
        val state = live.remove(generatorId) ?: return
        val continuation = state.pending ?: return
        state.pending = null
        try {
            continuation.resumeWithException(OrchestrationReleased())
        } catch (_: Throwable) {
            // A coroutine that fails to close is dropped all the same.
        }
    }

    /** Keeps a suspended coroutine under its id, forgets an ended one; its step. */
    private fun taken(generatorId: ULong, state: Live): String {
        if (state.ended) live.remove(generatorId) else live[generatorId] = state
        return state.step ?: fail("internal error: orchestration '${state.name}' neither suspended nor ended")
    }

    private class Ended(val state: Live) : Continuation<Any?> {
        override val context: CoroutineContext get() = EmptyCoroutineContext
        override fun resumeWith(result: Result<Any?>) {
            state.ended = true
            state.step = result.fold(
                onSuccess = { value ->
                    try {
                        """{"return": ${Json.quote(Json.encode(value))}}"""
                    } catch (e: IllegalArgumentException) {
                        fail("the result of orchestration '${state.name}': ${e.message}")
                    }
                },
                onFailure = { e -> fail(e.message ?: e.javaClass.simpleName) },
            )
        }
    }
}

internal fun fail(message: String): String = """{"fail": ${Json.quote(message)}}"""
