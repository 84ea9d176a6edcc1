// Entry point of the gaussian-ad command-line tool.
import Foundation
import GaussianAD

exit(CLI.run(Array(CommandLine.arguments.dropFirst())))
