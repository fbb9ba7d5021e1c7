// Activities as Kotlin functions, run through the same callback interface the Python SDK
// implements (ActivityInvoker in udl/duroxide.udl): Rust hands over a call and returns at
// once; a thread of this layer's pool runs the function and reports its outcome.
package duroxide

import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import uniffi.duroxide.ActivityCompletion
import uniffi.duroxide.ActivityInfo
import uniffi.duroxide.ActivityInvoker
import uniffi.duroxide.ActivityOutcome
import uniffi.duroxide.ActivityContext as NativeActivityContext

/** An activity: ordinary code (I/O allowed) whose JSON-able result is recorded. */
fun interface Activity {
    fun run(ctx: ActivityScope, input: Any?): Any?
}

/** What an activity may ask of the runtime. */
class ActivityScope internal constructor(
    private val native: NativeActivityContext,
    /** The instance, activity name, worker, ... this call runs for. */
    val info: ActivityInfo,
) {
    /** True once the orchestration no longer needs the result. */
    val isCancelled: Boolean get() = native.isCancelled()

    fun trace(level: String, message: String) = native.trace(level, message)
}

/** The ActivityInvoker that runs Kotlin [Activity]s on a thread pool it owns. */
class KotlinInvoker(private val lookup: (String) -> Activity?, threads: Int = 4) : ActivityInvoker {
    private val pool: ExecutorService = Executors.newFixedThreadPool(threads) { r ->
        Thread(r, "duroxide-kotlin-activity").apply { isDaemon = true }
    }

    override fun invoke(ctx: NativeActivityContext, info: ActivityInfo, input: String, completion: ActivityCompletion) {
        pool.execute { completion.complete(outcome(ctx, info, input)) }
    }

    private fun outcome(ctx: NativeActivityContext, info: ActivityInfo, input: String): ActivityOutcome {
        val name = info.activityName
        val activity = lookup(name) ?: return ActivityOutcome(false, "activity '$name' is not registered in this process")
        return try {
            ActivityOutcome(true, Json.encode(activity.run(ActivityScope(ctx, info), Json.decode(input))))
        } catch (e: Exception) {
            ActivityOutcome(false, e.message ?: e.javaClass.simpleName)
        }
    }

    /** Stops the pool (after the runtime shut down). */
    fun close() {
        pool.shutdown()
        pool.awaitTermination(5, TimeUnit.SECONDS)
    }
}
