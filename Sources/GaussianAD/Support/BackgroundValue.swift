// A value computed on another thread while the caller goes on; reading it waits for it.
import Dispatch
import Foundation

/// Computes `body` on a background thread at once; `value` blocks until it is ready.
final class BackgroundValue<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    /// Written once by the background thread before `done` is signalled, read only after.
    private var result: T?

    init(_ body: @escaping @Sendable () -> T) {
        Thread.detachNewThread { [self] in
            result = body()
            done.signal()
        }
    }

    /// The value, waiting for the background thread if it is not done yet.
    var value: T {
        done.wait()
        done.signal()
        return result!
    }
}
