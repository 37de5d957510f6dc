//! ItemStore contract: the same behaviour from redb and DynamoDB.

use std::sync::Arc;

use bulwark::ports::store::*;

use crate::helpers::Backend;
use crate::on_both_backends;

on_both_backends!(Backend:
    put_get_round_trips_every_type,
    conditional_put_on_existing_item_fails_and_changes_nothing,
    version_condition_guards_optimistic_writes,
    update_sets_adds_removes_and_honours_conditions,
    delete_with_and_without_condition,
    query_pages_both_directions_with_cursor,
    transaction_with_one_failing_condition_writes_nothing,
    twenty_concurrent_conditional_increments_give_exactly_twenty,
    capped_counter_under_contention_never_exceeds_cap,
    concurrent_cancelled_transactions_leave_no_trace_beside_committed_ones,
    expired_items_are_invisible_and_replaceable,
    missing_table_and_tenant_separation,
    scan_pages_visit_every_live_item_once,
    a_range_with_an_empty_or_inverted_bound_is_refused,
    get_many_reads_several_items_in_key_order,
);

async fn tenant(b: &Backend) -> (Arc<dyn ItemStore>, Table) {
    let t = Table::Tenant(uuid::Uuid::new_v4().simple().to_string());
    b.ports.store.ensure_table(&t).await.unwrap();
    // Idempotent.
    b.ports.store.ensure_table(&t).await.unwrap();
    (b.ports.store.clone(), t)
}

async fn put_get_round_trips_every_type(b: &Backend) {
    // GIVEN a tenant table
    let (s, t) = tenant(b).await;
    let item = Item::new("USER#1", "PROFILE")
        .with("name", "Ada")
        .with("count", -42i64)
        .with("blob", vec![0u8, 1, 2, 255])
        .with("flag", true)
        .with("list", AttrValue::L(vec![AttrValue::S("a".into()), AttrValue::N(7)]));
    // WHEN it is written and read back
    s.put(&t, item.clone(), Cond::Always).await.unwrap();
    // THEN every attribute comes back identical, and absent items are None
    assert_eq!(s.get(&t, "USER#1", "PROFILE").await.unwrap(), Some(item));
    assert_eq!(s.get(&t, "USER#1", "OTHER").await.unwrap(), None);
}

async fn conditional_put_on_existing_item_fails_and_changes_nothing(b: &Backend) {
    let (s, t) = tenant(b).await;
    s.put(&t, Item::new("SLUG#acme", "SLUG").with("owner", "first"), Cond::NotExists).await.unwrap();
    let err = s.put(&t, Item::new("SLUG#acme", "SLUG").with("owner", "second"), Cond::NotExists).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert_eq!(s.get(&t, "SLUG#acme", "SLUG").await.unwrap().unwrap().s("owner"), Some("first"));
}

async fn version_condition_guards_optimistic_writes(b: &Backend) {
    let (s, t) = tenant(b).await;
    s.put(&t, Item::new("P", "S").with("version", 1i64), Cond::NotExists).await.unwrap();
    s.put(&t, Item::new("P", "S").with("version", 2i64), Cond::eq("version", 1i64)).await.unwrap();
    let err = s.put(&t, Item::new("P", "S").with("version", 3i64), Cond::eq("version", 1i64)).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed));
    assert_eq!(s.get(&t, "P", "S").await.unwrap().unwrap().n("version"), Some(2));
}

async fn update_sets_adds_removes_and_honours_conditions(b: &Backend) {
    let (s, t) = tenant(b).await;
    // An update of a missing item creates it (upsert); ADD starts from 0.
    let it = s.update(&t, "C", "X", Update::default().add("n", 3).set("who", "a"), Cond::Always).await.unwrap();
    assert_eq!((it.n("n"), it.s("who")), (Some(3), Some("a")));
    let it = s.update(&t, "C", "X", Update::default().add("n", 2).remove("who"), Cond::Exists).await.unwrap();
    assert_eq!((it.n("n"), it.get("who")), (Some(5), None));
    // A failing condition changes nothing.
    let err = s.update(&t, "C", "X", Update::default().add("n", 1), Cond::lt("n", 5i64)).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed));
    let err = s.update(&t, "C", "MISSING", Update::default().add("n", 1), Cond::Exists).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed));
    assert_eq!(s.get(&t, "C", "X").await.unwrap().unwrap().n("n"), Some(5));
    assert_eq!(s.get(&t, "C", "MISSING").await.unwrap(), None);
    // Or/And/Has/Missing compose.
    let c = Cond::Or(vec![
        Cond::Missing("locked_until".into()),
        Cond::And(vec![Cond::Has("n".into()), Cond::ge("n", 5i64)]),
    ]);
    s.update(&t, "C", "X", Update::default().set("ok", true), c).await.unwrap();
}

async fn delete_with_and_without_condition(b: &Backend) {
    let (s, t) = tenant(b).await;
    s.put(&t, Item::new("D", "1").with("state", "live"), Cond::Always).await.unwrap();
    let err = s.delete(&t, "D", "1", Cond::eq("state", "spent")).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed));
    s.delete(&t, "D", "1", Cond::eq("state", "live")).await.unwrap();
    assert_eq!(s.get(&t, "D", "1").await.unwrap(), None);
    // Deleting an absent item is fine without a condition, a condition failure with Exists.
    s.delete(&t, "D", "1", Cond::Always).await.unwrap();
    assert!(matches!(s.delete(&t, "D", "1", Cond::Exists).await.unwrap_err(), StoreError::ConditionFailed));
}

async fn collect(s: &dyn ItemStore, mut req: QueryRequest) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    loop {
        let page = s.query(req.clone()).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= req.limit);
        out.extend(page.items.into_iter().map(|i| i.sk));
        match page.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => return (out, pages),
        }
    }
}

async fn query_pages_both_directions_with_cursor(b: &Backend) {
    let (s, t) = tenant(b).await;
    for i in 0..7 {
        s.put(&t, Item::new("CONV#1", format!("MSG#{i:03}")).with("i", i as i64), Cond::Always).await.unwrap();
    }
    s.put(&t, Item::new("CONV#1", "META").with("title", "x"), Cond::Always).await.unwrap();
    s.put(&t, Item::new("CONV#2", "MSG#000"), Cond::Always).await.unwrap();
    let req = |dir, range, limit| QueryRequest {
        table: t.clone(),
        pk: "CONV#1".into(),
        range,
        direction: dir,
        limit,
        cursor: None,
    };
    let fwd: Vec<String> = (0..7).map(|i| format!("MSG#{i:03}")).collect();
    let (got, pages) = collect(&*s, req(Direction::Forward, SkRange::Prefix("MSG#".into()), 3)).await;
    assert_eq!(got, fwd);
    assert!(pages >= 3);
    let (got, _) = collect(&*s, req(Direction::Backward, SkRange::Prefix("MSG#".into()), 2)).await;
    assert_eq!(got, fwd.iter().rev().cloned().collect::<Vec<_>>());
    let (got, _) =
        collect(&*s, req(Direction::Forward, SkRange::Between("MSG#002".into(), "MSG#004".into()), 10)).await;
    assert_eq!(got, vec!["MSG#002", "MSG#003", "MSG#004"]);
    let (got, _) = collect(&*s, req(Direction::Forward, SkRange::Prefix(String::new()), 100)).await;
    assert_eq!(got.len(), 8);
    // A cursor is bound to its range: it cannot jump to another part of the partition.
    let page = s.query(req(Direction::Forward, SkRange::Prefix("MSG#".into()), 2)).await.unwrap();
    let mut other = req(Direction::Forward, SkRange::Prefix("META".into()), 2);
    other.cursor = page.next_cursor;
    assert!(matches!(s.query(other).await.unwrap_err(), StoreError::InvalidCursor));
    let mut junk = req(Direction::Forward, SkRange::Prefix("MSG#".into()), 2);
    junk.cursor = Some("!!not-a-cursor!!".into());
    assert!(matches!(s.query(junk).await.unwrap_err(), StoreError::InvalidCursor));
    assert!(matches!(
        s.query(req(Direction::Forward, SkRange::Prefix("".into()), 0)).await.unwrap_err(),
        StoreError::Invalid(_)
    ));
}

async fn transaction_with_one_failing_condition_writes_nothing(b: &Backend) {
    let (s, t) = tenant(b).await;
    s.put(&t, Item::new("INVITE#h", "INVITE").with("state", "spent"), Cond::Always).await.unwrap();
    s.put(&t, Item::new("GONE", "X"), Cond::Always).await.unwrap();
    // GIVEN a transaction whose last operation's condition is false
    let ops = vec![
        TxOp::Put { table: t.clone(), item: Item::new("USER#1", "PROFILE").with("name", "a"), cond: Cond::NotExists },
        TxOp::Delete { table: t.clone(), pk: "GONE".into(), sk: "X".into(), cond: Cond::Exists },
        TxOp::Update {
            table: t.clone(),
            pk: "INVITE#h".into(),
            sk: "INVITE".into(),
            update: Update::default().set("state", "used"),
            cond: Cond::eq("state", "pending"),
        },
    ];
    // WHEN it runs THEN it is cancelled and nothing at all was written
    match s.transact(ops.clone()).await.unwrap_err() {
        StoreError::TransactionCancelled { index } => assert!(index.is_none() || index == Some(2), "{index:?}"),
        e => panic!("unexpected {e:?}"),
    }
    assert_eq!(s.get(&t, "USER#1", "PROFILE").await.unwrap(), None);
    assert!(s.get(&t, "GONE", "X").await.unwrap().is_some());
    assert_eq!(s.get(&t, "INVITE#h", "INVITE").await.unwrap().unwrap().s("state"), Some("spent"));
    // With the condition true, everything is written together.
    s.put(&t, Item::new("INVITE#h", "INVITE").with("state", "pending"), Cond::Always).await.unwrap();
    let mut ops = ops;
    ops.push(TxOp::Check { table: t.clone(), pk: "GONE".into(), sk: "Y".into(), cond: Cond::NotExists });
    s.transact(ops).await.unwrap();
    assert!(s.get(&t, "USER#1", "PROFILE").await.unwrap().is_some());
    assert_eq!(s.get(&t, "GONE", "X").await.unwrap(), None);
    assert_eq!(s.get(&t, "INVITE#h", "INVITE").await.unwrap().unwrap().s("state"), Some("used"));
    // The same item twice is refused up front.
    let dup = vec![
        TxOp::Put { table: t.clone(), item: Item::new("A", "B"), cond: Cond::Always },
        TxOp::Delete { table: t.clone(), pk: "A".into(), sk: "B".into(), cond: Cond::Always },
    ];
    assert!(matches!(s.transact(dup).await.unwrap_err(), StoreError::Invalid(_)));
}

async fn twenty_concurrent_conditional_increments_give_exactly_twenty(b: &Backend) {
    let (s, t) = tenant(b).await;
    s.put(&t, Item::new("CTR", "C").with("n", 0i64), Cond::Always).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (s, t) = (s.clone(), t.clone());
            tokio::spawn(async move { s.update(&t, "CTR", "C", Update::default().add("n", 1), Cond::Exists).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(s.get(&t, "CTR", "C").await.unwrap().unwrap().n("n"), Some(20));
}

async fn capped_counter_under_contention_never_exceeds_cap(b: &Backend) {
    // The lockout pattern: 30 parallel "failures" against a counter capped at 5.
    let (s, t) = tenant(b).await;
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let (s, t) = (s.clone(), t.clone());
            tokio::spawn(async move {
                let cap = Cond::Or(vec![Cond::Missing("n".into()), Cond::lt("n", 5i64)]);
                s.update(&t, "LOCK#x", "L", Update::default().add("n", 1), cap).await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::ConditionFailed) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(s.get(&t, "LOCK#x", "L").await.unwrap().unwrap().n("n"), Some(5));
}

async fn concurrent_cancelled_transactions_leave_no_trace_beside_committed_ones(b: &Backend) {
    // The embedded store commits concurrent writes together (group commit): a cancelled
    // transaction must not leak its first writes into the commit it shares.
    let (s, t) = tenant(b).await;
    s.put(&t, Item::new("CTR", "C").with("n", 0i64), Cond::Always).await.unwrap();
    // GIVEN 40 concurrent transactions, every other one with a false last condition
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (s, t) = (s.clone(), t.clone());
            let last = if i % 2 == 0 {
                TxOp::Update {
                    table: t.clone(),
                    pk: "CTR".into(),
                    sk: "C".into(),
                    update: Update::default().add("n", 1),
                    cond: Cond::Exists,
                }
            } else {
                TxOp::Check { table: t.clone(), pk: "MISSING".into(), sk: "M".into(), cond: Cond::Exists }
            };
            let first =
                TxOp::Put { table: t.clone(), item: Item::new("ITEMS", format!("I#{i:02}")), cond: Cond::NotExists };
            tokio::spawn(async move { (i, s.transact(vec![first, last]).await) })
        })
        .collect();
    // WHEN they all finish
    for task in tasks {
        let (i, outcome) = task.await.unwrap();
        // THEN each has its own outcome
        match (i % 2, outcome) {
            (0, Ok(())) => {}
            (1, Err(StoreError::TransactionCancelled { .. })) => {}
            (_, other) => panic!("transaction {i}: {other:?}"),
        }
    }
    // AND only the committed ones left anything behind
    let all = QueryRequest {
        table: t.clone(),
        pk: "ITEMS".into(),
        range: SkRange::Prefix("I#".into()),
        direction: Direction::Forward,
        limit: 100,
        cursor: None,
    };
    let (written, _) = collect(&*s, all).await;
    let committed: Vec<String> = (0..40).step_by(2).map(|i| format!("I#{i:02}")).collect();
    assert_eq!(written, committed);
    assert_eq!(s.get(&t, "CTR", "C").await.unwrap().unwrap().n("n"), Some(20));
}

async fn expired_items_are_invisible_and_replaceable(b: &Backend) {
    let (s, t) = tenant(b).await;
    let now = bulwark::ports::clock::Clock::now_secs(&*b.clock);
    s.put(&t, Item::new("TOK#1", "T").with(EXPIRES_AT, now + 10), Cond::NotExists).await.unwrap();
    s.put(&t, Item::new("TOK#1", "U").with(EXPIRES_AT, now + 1000), Cond::NotExists).await.unwrap();
    assert!(s.get(&t, "TOK#1", "T").await.unwrap().is_some());
    assert!(matches!(
        s.put(&t, Item::new("TOK#1", "T"), Cond::NotExists).await.unwrap_err(),
        StoreError::ConditionFailed
    ));
    // WHEN the clock passes the expiry
    b.clock.advance(time::Duration::seconds(11));
    // THEN the item is gone for reads, queries and existence conditions
    assert_eq!(s.get(&t, "TOK#1", "T").await.unwrap(), None);
    let page = s
        .query(QueryRequest {
            table: t.clone(),
            pk: "TOK#1".into(),
            range: SkRange::Prefix(String::new()),
            direction: Direction::Forward,
            limit: 10,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(page.items.iter().map(|i| i.sk.as_str()).collect::<Vec<_>>(), vec!["U"]);
    assert!(matches!(s.delete(&t, "TOK#1", "T", Cond::Exists).await.unwrap_err(), StoreError::ConditionFailed));
    s.put(&t, Item::new("TOK#1", "T").with("fresh", true), Cond::NotExists).await.unwrap();
    assert_eq!(s.get(&t, "TOK#1", "T").await.unwrap().unwrap().bool("fresh"), Some(true));
}

async fn missing_table_and_tenant_separation(b: &Backend) {
    let s = b.ports.store.clone();
    let nowhere = Table::Tenant(uuid::Uuid::new_v4().simple().to_string());
    assert!(matches!(s.get(&nowhere, "a", "b").await.unwrap_err(), StoreError::NoSuchTable));
    assert!(matches!(s.put(&nowhere, Item::new("a", "b"), Cond::Always).await.unwrap_err(), StoreError::NoSuchTable));
    let (_, t1) = tenant(b).await;
    let (_, t2) = tenant(b).await;
    s.put(&t1, Item::new("USER#1", "P").with("who", "t1"), Cond::NotExists).await.unwrap();
    s.put(&t2, Item::new("USER#1", "P").with("who", "t2"), Cond::NotExists).await.unwrap();
    assert_eq!(s.get(&t1, "USER#1", "P").await.unwrap().unwrap().s("who"), Some("t1"));
    assert_eq!(s.get(&t2, "USER#1", "P").await.unwrap().unwrap().s("who"), Some("t2"));
    s.ensure_table(&Table::Platform).await.unwrap();
    assert_eq!(s.get(&Table::Platform, "USER#1", "P").await.unwrap(), None);
}

async fn scan_pages_visit_every_live_item_once(b: &Backend) {
    // GIVEN 23 live items over several partitions, one expired item, and another tenant's item
    let (s, t) = tenant(b).await;
    let (_, other) = tenant(b).await;
    let now = bulwark::ports::clock::Clock::now_secs(&*b.clock);
    let mut want = Vec::new();
    for i in 0..23 {
        let (pk, sk) = (format!("P#{}", i % 4), format!("S#{i:02}"));
        s.put(&t, Item::new(&pk, &sk).with("n", i as i64), Cond::NotExists).await.unwrap();
        want.push((pk, sk));
    }
    s.put(&t, Item::new("P#0", "GONE").with(EXPIRES_AT, now + 5), Cond::NotExists).await.unwrap();
    s.put(&other, Item::new("P#0", "OTHER"), Cond::NotExists).await.unwrap();
    b.clock.advance(time::Duration::seconds(6));
    // WHEN the table is scanned 5 items at a time
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = s.scan(&t, 5, cursor).await.unwrap();
        pages += 1;
        seen.extend(page.items.into_iter().map(|i| (i.pk, i.sk)));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    // THEN each live item of this table appears exactly once, over several pages
    seen.sort();
    want.sort();
    assert_eq!(seen, want);
    assert!(pages >= 5);
    // AND bad cursors, limits and tables are refused
    assert!(matches!(s.scan(&t, 5, Some("junk!".into())).await.unwrap_err(), StoreError::InvalidCursor));
    assert!(matches!(s.scan(&t, 0, None).await.unwrap_err(), StoreError::Invalid(_)));
    let missing = Table::Tenant("nosuchtenant0".into());
    assert!(matches!(s.scan(&missing, 5, None).await.unwrap_err(), StoreError::NoSuchTable));
}

async fn a_range_with_an_empty_or_inverted_bound_is_refused(b: &Backend) {
    let (s, t) = tenant(b).await;
    s.put(&t, Item::new("P", "A"), Cond::Always).await.unwrap();
    let req = |range| QueryRequest {
        table: t.clone(),
        pk: "P".into(),
        range,
        direction: Direction::Forward,
        limit: 10,
        cursor: None,
    };
    // DynamoDB refuses an empty key value in BETWEEN; the embedded store refuses it alike.
    for range in [
        SkRange::Between(String::new(), "Z".into()),
        SkRange::Between("A".into(), String::new()),
        SkRange::Between("Z".into(), "A".into()),
    ] {
        let err = s.query(req(range.clone())).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{range:?}: {err:?}");
    }
    assert_eq!(s.query(req(SkRange::Between("A".into(), "A".into()))).await.unwrap().items.len(), 1);
}

async fn get_many_reads_several_items_in_key_order(b: &Backend) {
    // GIVEN three items, one of them expired
    let (s, t) = tenant(b).await;
    let now = bulwark::ports::clock::Clock::now_secs(&*b.clock);
    s.put(&t, Item::new("SESSION#1", "S").with("user", "u1"), Cond::Always).await.unwrap();
    s.put(&t, Item::new("USERS", "USER#u1").with("name", "Ada"), Cond::Always).await.unwrap();
    s.put(&t, Item::new("TOK#9", "T").with(EXPIRES_AT, now + 5), Cond::Always).await.unwrap();
    b.clock.advance(time::Duration::seconds(6));
    // WHEN they and a missing key are read in one call
    let keys = [("USERS", "USER#u1"), ("NOPE", "X"), ("SESSION#1", "S"), ("TOK#9", "T")];
    let got = s.get_many(&t, &keys).await.unwrap();
    // THEN each key gets its item, in the order asked, the missing and the expired as None
    let names: Vec<Option<&str>> = got.iter().map(|i| i.as_ref().map(|i| i.pk.as_str())).collect();
    assert_eq!(names, vec![Some("USERS"), None, Some("SESSION#1"), None]);
    assert_eq!(got[0].as_ref().unwrap().s("name"), Some("Ada"));
    // AND a key asked twice is answered twice; more than 100 keys are refused on both backends
    let twice = s.get_many(&t, &[("USERS", "USER#u1"), ("USERS", "USER#u1")]).await.unwrap();
    assert!(twice.iter().all(Option::is_some));
    let many: Vec<(String, String)> = (0..101).map(|i| (format!("K#{i}"), "S".to_owned())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect();
    assert!(matches!(s.get_many(&t, &many).await, Err(StoreError::Invalid(_))));
    // AND a table that does not exist is the same error as for get
    let missing = Table::Tenant(uuid::Uuid::new_v4().simple().to_string());
    assert!(matches!(s.get_many(&missing, &keys).await, Err(StoreError::NoSuchTable)));
}
