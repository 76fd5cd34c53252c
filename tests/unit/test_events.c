/* Unit tests for src/server/core/events.c: subscribers are called in the
 * order they subscribed, for the kinds in their masks only; a subscriber
 * that unsubscribes itself or another during a publish is not called again;
 * one that subscribes during a publish sees the next event, not this one;
 * events_wanted follows the live masks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/events.h"
#include "util.h"

/* Each call appends the subscriber's tag and the event's jid to a log. */
struct tap {
	char name;
	char *log;           /* shared by the taps of a test */
	size_t cap;
	struct events *ev;
	/* What to do when called (once): */
	struct tap *drop;    /* unsubscribe this tap */
	struct tap *add;     /* subscribe these taps (mask add_mask) */
	int nadd;            /* how many (0: one) */
	unsigned add_mask;
	bool publish;        /* publish a nested EV_JOB_OUTPUT "n" */
	bool done;
};

static void on_event(void *ud, const struct event *e)
{
	struct tap *t = ud;
	size_t len = strlen(t->log);

	assert_true(len + 3 < t->cap);
	t->log[len] = t->name;
	t->log[len + 1] = e->jid ? e->jid[0] : '-';
	t->log[len + 2] = ' ';
	t->log[len + 3] = '\0';
	if (t->done)
		return;
	t->done = true;
	if (t->drop)
		events_unsubscribe(t->ev, on_event, t->drop);
	for (int i = 0; t->add && i < (t->nadd ? t->nadd : 1); i++)
		assert_int_equal(events_subscribe(t->ev, t->add_mask, on_event, &t->add[i]), 0);
	if (t->publish) {
		struct event n = { .kind = EV_JOB_OUTPUT, .jid = "n" };

		events_publish(t->ev, &n);
	}
}

static void publish(struct events *ev, enum event_kind kind, const char *jid)
{
	struct event e = { .kind = kind, .jid = jid };

	events_publish(ev, &e);
}

#define ALL (EV_MASK(EV_JOB_OUTPUT) | EV_MASK(EV_JOB_DONE) | EV_MASK(EV_INVOCATION_CHILD_DONE) | \
	     EV_MASK(EV_INVOCATION_DONE))

static void test_order_and_masks(void **state)
{
	struct events *ev;
	char log[256] = "";
	struct tap a = { .name = 'a', .log = log, .cap = sizeof log }, b = { .name = 'b', .log = log, .cap = sizeof log },
		   c = { .name = 'c', .log = log, .cap = sizeof log };

	(void)state;
	assert_int_equal(events_create(&ev), 0);
	a.done = b.done = c.done = true;
	assert_int_equal(events_subscribe(ev, ALL, on_event, &a), 0);
	assert_int_equal(events_subscribe(ev, EV_MASK(EV_JOB_DONE), on_event, &b), 0);
	assert_int_equal(events_subscribe(ev, EV_MASK(EV_JOB_DONE) | EV_MASK(EV_INVOCATION_DONE),
					  on_event, &c), 0);
	publish(ev, EV_JOB_DONE, "1");
	publish(ev, EV_JOB_OUTPUT, "2");
	publish(ev, EV_INVOCATION_DONE, "3");
	publish(ev, EV_INVOCATION_CHILD_DONE, "4");
	assert_string_equal(log, "a1 b1 c1 a2 a3 c3 a4 ");
	events_destroy(ev);
	events_destroy(NULL);
}

struct fields_seen {
	int n;
	struct event e;
	char data[16];
};

static void keep_fields(void *ud, const struct event *e)
{
	struct fields_seen *f = ud;

	f->n++;
	f->e = *e;
	util_strlcpy(f->data, e->data, sizeof f->data);
}

static void test_fields_pass_through(void **state)
{
	struct events *ev;
	struct fields_seen f = { 0 };
	struct event e = { .kind = EV_JOB_OUTPUT, .jid = "j1", .invocation_id = "m1",
			   .client_id = "c1", .client_name = "n1", .status = JOB_RUNNING,
			   .stream = JOB_STDERR, .data = "hello", .len = 5, .base64 = false,
			   .offset = 7, .offset_lines = 2 };

	(void)state;
	assert_int_equal(events_create(&ev), 0);
	assert_int_equal(events_subscribe(ev, EV_MASK(EV_JOB_OUTPUT), keep_fields, &f), 0);
	events_publish(ev, &e);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.e.jid, "j1");
	assert_string_equal(f.e.invocation_id, "m1");
	assert_string_equal(f.e.client_id, "c1");
	assert_string_equal(f.e.client_name, "n1");
	assert_int_equal(f.e.stream, JOB_STDERR);
	assert_string_equal(f.data, "hello");
	assert_int_equal(f.e.len, 5);
	assert_int_equal(f.e.offset, 7);
	assert_int_equal(f.e.offset_lines, 2);
	events_destroy(ev);
}

static void test_unsubscribe_during_publish(void **state)
{
	struct events *ev;
	char log[256] = "";
	struct tap a = { .name = 'a', .log = log, .cap = sizeof log }, b = { .name = 'b', .log = log, .cap = sizeof log },
		   c = { .name = 'c', .log = log, .cap = sizeof log };

	(void)state;
	assert_int_equal(events_create(&ev), 0);
	a.ev = b.ev = c.ev = ev;
	b.done = c.done = true;
	/* a removes b (after it) during the first event, then itself is kept. */
	a.drop = &b;
	assert_int_equal(events_subscribe(ev, ALL, on_event, &a), 0);
	assert_int_equal(events_subscribe(ev, ALL, on_event, &b), 0);
	assert_int_equal(events_subscribe(ev, ALL, on_event, &c), 0);
	publish(ev, EV_JOB_DONE, "1");
	assert_string_equal(log, "a1 c1 ");
	publish(ev, EV_JOB_DONE, "2");
	assert_string_equal(log, "a1 c1 a2 c2 ");
	events_destroy(ev);
}

static void test_unsubscribe_self_during_publish(void **state)
{
	struct events *ev;
	char log[256] = "";
	struct tap a = { .name = 'a', .log = log, .cap = sizeof log }, b = { .name = 'b', .log = log, .cap = sizeof log },
		   c = { .name = 'c', .log = log, .cap = sizeof log };

	(void)state;
	assert_int_equal(events_create(&ev), 0);
	a.ev = b.ev = c.ev = ev;
	a.done = c.done = true;
	b.drop = &b;
	assert_int_equal(events_subscribe(ev, ALL, on_event, &a), 0);
	assert_int_equal(events_subscribe(ev, ALL, on_event, &b), 0);
	assert_int_equal(events_subscribe(ev, ALL, on_event, &c), 0);
	publish(ev, EV_JOB_DONE, "1");
	publish(ev, EV_JOB_DONE, "2");
	/* b ran once; the ones after it were not skipped. */
	assert_string_equal(log, "a1 b1 c1 a2 c2 ");
	events_destroy(ev);
}

static void test_subscribe_during_publish_sees_next(void **state)
{
	struct events *ev;
	char log[256] = "";
	struct tap a = { .name = 'a', .log = log, .cap = sizeof log }, b = { .name = 'b', .log = log, .cap = sizeof log };

	(void)state;
	assert_int_equal(events_create(&ev), 0);
	a.ev = b.ev = ev;
	b.done = true;
	a.add = &b;
	a.add_mask = ALL;
	assert_int_equal(events_subscribe(ev, ALL, on_event, &a), 0);
	publish(ev, EV_JOB_DONE, "1");
	assert_string_equal(log, "a1 ");
	publish(ev, EV_JOB_DONE, "2");
	assert_string_equal(log, "a1 a2 b2 ");
	events_destroy(ev);
}

static void test_subscribe_many_during_publish(void **state)
{
	/* Enough subscriptions during a call to move the subscriber array:
	 * the publish in progress goes on over the new one, and calls none of
	 * the new subscribers. */
	struct events *ev;
	char log[512] = "";
	struct tap a = { .name = 'a', .log = log, .cap = sizeof log }, z = { .name = 'z', .log = log, .cap = sizeof log },
		   b = { .name = 'b', .log = log, .cap = sizeof log };
	struct tap more[20];

	(void)state;
	assert_int_equal(events_create(&ev), 0);
	for (int i = 0; i < 20; i++)
		more[i] = (struct tap){ .name = 'x', .log = log, .cap = sizeof log, .done = true };
	a.done = b.done = true;
	z.ev = ev;
	z.add = more;
	z.nadd = 20;
	z.add_mask = ALL;
	assert_int_equal(events_subscribe(ev, ALL, on_event, &a), 0);
	assert_int_equal(events_subscribe(ev, ALL, on_event, &z), 0);
	assert_int_equal(events_subscribe(ev, ALL, on_event, &b), 0);
	publish(ev, EV_JOB_DONE, "1");
	assert_string_equal(log, "a1 z1 b1 ");
	log[0] = '\0';
	publish(ev, EV_JOB_DONE, "2");
	assert_string_equal(log, "a2 z2 b2 x2 x2 x2 x2 x2 x2 x2 x2 x2 x2 x2 x2 x2 x2 x2 x2 x2 x2 x2 x2 ");
	events_destroy(ev);
}

static void test_nested_publish(void **state)
{
	/* A subscriber that publishes (as fan-out does from a job's end):
	 * the nested event reaches everyone before the outer one goes on. */
	struct events *ev;
	char log[256] = "";
	struct tap a = { .name = 'a', .log = log, .cap = sizeof log }, b = { .name = 'b', .log = log, .cap = sizeof log };

	(void)state;
	assert_int_equal(events_create(&ev), 0);
	a.ev = b.ev = ev;
	b.done = true;
	a.publish = true;
	assert_int_equal(events_subscribe(ev, ALL, on_event, &a), 0);
	assert_int_equal(events_subscribe(ev, ALL, on_event, &b), 0);
	publish(ev, EV_JOB_DONE, "1");
	assert_string_equal(log, "a1 an bn b1 ");
	events_destroy(ev);
}

static void test_wanted(void **state)
{
	struct events *ev;
	char log[64] = "";
	struct tap a = { .name = 'a', .log = log, .cap = sizeof log, .done = true },
		   b = { .name = 'b', .log = log, .cap = sizeof log, .done = true };

	(void)state;
	assert_false(events_wanted(NULL, EV_JOB_DONE));
	assert_int_equal(events_create(&ev), 0);
	assert_false(events_wanted(ev, EV_JOB_OUTPUT));
	assert_int_equal(events_subscribe(ev, EV_MASK(EV_JOB_OUTPUT), on_event, &a), 0);
	assert_int_equal(events_subscribe(ev, EV_MASK(EV_JOB_OUTPUT) | EV_MASK(EV_JOB_DONE),
					  on_event, &b), 0);
	assert_true(events_wanted(ev, EV_JOB_OUTPUT));
	assert_true(events_wanted(ev, EV_JOB_DONE));
	assert_false(events_wanted(ev, EV_INVOCATION_DONE));
	events_unsubscribe(ev, on_event, &b);
	assert_true(events_wanted(ev, EV_JOB_OUTPUT));
	assert_false(events_wanted(ev, EV_JOB_DONE));
	/* Nobody listens to EV_JOB_DONE: publishing it calls nobody. */
	publish(ev, EV_JOB_DONE, "1");
	assert_string_equal(log, "");
	events_unsubscribe(ev, on_event, &a);
	assert_false(events_wanted(ev, EV_JOB_OUTPUT));
	/* Unsubscribing what is not subscribed changes nothing. */
	events_unsubscribe(ev, on_event, &a);
	assert_false(events_wanted(ev, EV_JOB_OUTPUT));
	events_destroy(ev);
}

struct dropper {
	struct events *ev;
	struct tap *victim;
	bool wanted_after;
};

static void drop_and_look(void *ud, const struct event *e)
{
	struct dropper *d = ud;

	(void)e;
	events_unsubscribe(d->ev, on_event, d->victim);
	d->wanted_after = events_wanted(d->ev, EV_INVOCATION_DONE);
}

static void test_wanted_during_publish(void **state)
{
	/* Inside a publish, a removed subscriber's kinds stop being wanted at
	 * once (a publisher asking then builds nothing for nobody). */
	struct events *ev;
	char log[64] = "";
	struct tap b = { .name = 'b', .log = log, .cap = sizeof log, .done = true };
	struct dropper d = { 0 };

	(void)state;
	assert_int_equal(events_create(&ev), 0);
	d.ev = ev;
	d.victim = &b;
	assert_int_equal(events_subscribe(ev, EV_MASK(EV_JOB_DONE), drop_and_look, &d), 0);
	assert_int_equal(events_subscribe(ev, EV_MASK(EV_INVOCATION_DONE), on_event, &b), 0);
	d.wanted_after = true;
	publish(ev, EV_JOB_DONE, "1");
	assert_false(d.wanted_after);
	assert_false(events_wanted(ev, EV_INVOCATION_DONE));
	events_destroy(ev);
}

static void test_wanted_after_unsubscribe_during_publish(void **state)
{
	/* A subscriber removed during a publish stops being wanted at once,
	 * and is not called by a nested publish either. */
	struct events *ev;
	char log[256] = "";
	struct tap a = { .name = 'a', .log = log, .cap = sizeof log }, b = { .name = 'b', .log = log, .cap = sizeof log };

	(void)state;
	assert_int_equal(events_create(&ev), 0);
	a.ev = b.ev = ev;
	b.done = true;
	a.drop = &b;
	a.publish = true;
	assert_int_equal(events_subscribe(ev, EV_MASK(EV_JOB_DONE) | EV_MASK(EV_JOB_OUTPUT),
					  on_event, &a), 0);
	assert_int_equal(events_subscribe(ev, EV_MASK(EV_INVOCATION_DONE) | EV_MASK(EV_JOB_DONE),
					  on_event, &b), 0);
	publish(ev, EV_JOB_DONE, "1");
	assert_string_equal(log, "a1 an ");
	assert_false(events_wanted(ev, EV_INVOCATION_DONE));
	assert_true(events_wanted(ev, EV_JOB_DONE));
	events_destroy(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_masks),
		cmocka_unit_test(test_fields_pass_through),
		cmocka_unit_test(test_unsubscribe_during_publish),
		cmocka_unit_test(test_unsubscribe_self_during_publish),
		cmocka_unit_test(test_subscribe_during_publish_sees_next),
		cmocka_unit_test(test_subscribe_many_during_publish),
		cmocka_unit_test(test_nested_publish),
		cmocka_unit_test(test_wanted),
		cmocka_unit_test(test_wanted_during_publish),
		cmocka_unit_test(test_wanted_after_unsubscribe_during_publish),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
