/* Stand-in for the SDK's assert.h (see TargetConditionals.h here). */
#ifndef ASSERT_STANDIN_H
#define ASSERT_STANDIN_H
#define assert(e) ((void)0)
#endif
