// The runtime and the client, over the generated objects (uniffi.duroxide.Runtime and
// uniffi.duroxide.Client): registration by name, payloads as JSON-able values, statuses
// as an enum.
package duroxide

import java.util.concurrent.ConcurrentHashMap
import uniffi.duroxide.OrchestrationRegistration
import uniffi.duroxide.OrchestrationState
import uniffi.duroxide.Provider
import uniffi.duroxide.RuntimeConfig
import uniffi.duroxide.shutdownAll
import uniffi.duroxide.Client as NativeClient
import uniffi.duroxide.Runtime as NativeRuntime

/** Runs registered orchestrations and activities on [provider]'s store. */
class Worker(private val provider: Provider, private val config: RuntimeConfig = defaultConfig()) : AutoCloseable {
    private val orchestrations = ConcurrentHashMap<String, Orchestration>()
    private val activities = ConcurrentHashMap<String, Activity>()
    private val invoker = KotlinInvoker({ activities[it] })
    private var native: NativeRuntime? = null

    fun orchestration(name: String, version: String = "1.0.0", body: Orchestration): Worker = apply {
        check(native == null) { "register before start()" }
        orchestrations["$name@$version"] = body
    }

    fun activity(name: String, body: Activity): Worker = apply {
        check(native == null) { "register before start()" }
        activities[name] = body
    }

    /** Starts the dispatchers; throws uniffi.duroxide.DuroxideException on a bad registration. */
    fun start(): Worker = apply {
        check(native == null) { "already started" }
        val stepper = KotlinStepper { name, version -> orchestrations["$name@$version"] }
        val runtime = NativeRuntime(provider, config, stepper, invoker)
        val registrations = orchestrations.keys.map {
            OrchestrationRegistration(it.substringBeforeLast('@'), it.substringAfterLast('@'))
        }
        runtime.start(registrations, activities.keys.toList())
        native = runtime
        installExitHook()
    }

    /** Stops the dispatchers, giving in-flight work up to [timeoutMs] to finish. */
    fun shutdown(timeoutMs: Long = 1000) {
        native?.shutdown(timeoutMs.toULong())
        native?.close()
        native = null
        invoker.close()
    }

    override fun close() = shutdown()

    companion object {
        /** The core's defaults; DUROXIDE_REPLAY_CACHE=0 in the environment turns the replay
         * cache off (every turn replays from history), as it does for Python. */
        fun defaultConfig(): RuntimeConfig = RuntimeConfig().apply {
            if (System.getenv("DUROXIDE_REPLAY_CACHE")?.trim() == "0") replayCacheSize = 0u
        }

        @Volatile private var hooked = false

        /** Rust threads must not call into a JVM that is exiting: stop them first. */
        @Synchronized private fun installExitHook() {
            if (hooked) return
            hooked = true
            java.lang.Runtime.getRuntime().addShutdownHook(Thread { shutdownAll(1000uL) })
        }
    }
}

/** An instance's status, as the core names it. */
enum class Status { Running, Completed, Failed, NotFound }

/** An instance's state: [output] is the decoded result when Completed, [error] the
 * failure message when Failed. */
data class InstanceState(val status: Status, val output: Any?, val error: String?, val customStatus: String?) {
    internal constructor(s: OrchestrationState) : this(
        Status.valueOf(s.status), s.output?.let(Json::decode), s.error, s.customStatus,
    )
}

/** Starts instances, raises events and reads states on [provider]'s store (no runtime
 * needed in this process). */
class DurableClient(provider: Provider) : AutoCloseable {
    private val native = NativeClient(provider)

    fun startOrchestration(instanceId: String, name: String, input: Any?, version: String? = null) =
        native.startOrchestration(instanceId, name, Json.encode(input), version)

    fun raiseEvent(instanceId: String, eventName: String, data: Any?) =
        native.raiseEvent(instanceId, eventName, Json.encode(data))

    fun getStatus(instanceId: String): InstanceState = InstanceState(native.getStatus(instanceId))

    /** Waits for a terminal state; uniffi.duroxide.DuroxideException.Timeout after [timeoutMs]. */
    fun waitForOrchestration(instanceId: String, timeoutMs: Long): InstanceState =
        InstanceState(native.waitForOrchestration(instanceId, timeoutMs.toULong()))

    /** The generated client, for the calls this layer does not wrap (admin, KV, ...). */
    val raw: NativeClient get() = native

    override fun close() {
        native.shutdown()
        native.close()
    }
}
