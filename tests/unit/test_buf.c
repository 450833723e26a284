/* test_buf: appends never cut, a failed one changes nothing, and room
 * made at once is used without growing again. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"

static void test_append_past_max_changes_nothing(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "12345"), 0);
    assert_int_equal(buf_puts(&b, "6789"), -1);
    assert_int_equal(b.len, 5);
    assert_string_equal(buf_str(&b), "12345");
    assert_int_equal(buf_printf(&b, "%d", 678), 0);
    assert_string_equal(buf_str(&b), "12345678");
    assert_int_equal(buf_putc(&b, 'x'), -1);
    assert_string_equal(buf_str(&b), "12345678");
    buf_free(&b);
}

static void test_reserve_makes_room_at_once(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_puts(&b, "head "), 0);
    assert_int_equal(buf_reserve(&b, 100000), 0);
    assert_true(b.cap >= 5 + 100000 + 1);
    const char *room = b.data;
    size_t cap = b.cap;
    /* The appends that fill the room neither move nor grow it. */
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_append(&b, "0123456789", 10), 0);
    assert_ptr_equal(b.data, room);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.len, 5 + 100000);
    assert_memory_equal(b.data, "head 0123456789", 15);
    assert_int_equal(b.data[b.len], '\0');
    buf_free(&b);
}

static void test_reserve_past_max_changes_nothing(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 16);
    assert_int_equal(buf_puts(&b, "abc"), 0);
    assert_int_equal(buf_reserve(&b, 14), -1);
    assert_int_equal(b.len, 3);
    assert_string_equal(buf_str(&b), "abc");
    assert_int_equal(buf_reserve(&b, 13), 0);
    assert_int_equal(buf_puts(&b, "defghijklmnop"), 0);
    assert_string_equal(buf_str(&b), "abcdefghijklmnop");
    buf_free(&b);
}

static void test_truncate(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    buf_truncate(&b, 0); /* empty: nothing to drop */
    assert_string_equal(buf_str(&b), "");
    assert_int_equal(buf_puts(&b, "keep, drop"), 0);
    buf_truncate(&b, 20);
    assert_string_equal(buf_str(&b), "keep, drop");
    buf_truncate(&b, 4);
    assert_int_equal(b.len, 4);
    assert_string_equal(buf_str(&b), "keep");
    assert_int_equal(buf_puts(&b, "!"), 0);
    assert_string_equal(buf_str(&b), "keep!");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_past_max_changes_nothing),
        cmocka_unit_test(test_reserve_makes_room_at_once),
        cmocka_unit_test(test_reserve_past_max_changes_nothing),
        cmocka_unit_test(test_truncate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
