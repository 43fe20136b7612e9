/* Stand-in for the macOS SDK's TargetConditionals.h, just enough for ring's C build when
 * .ci/run type-checks and lints the macOS target (nothing here links or runs it). */
#ifndef TARGET_CONDITIONALS_STANDIN_H
#define TARGET_CONDITIONALS_STANDIN_H
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_WATCH 0
#define TARGET_OS_TV 0
#define TARGET_OS_SIMULATOR 0
#define TARGET_OS_EMBEDDED 0
#define TARGET_CPU_ARM64 1
#endif
