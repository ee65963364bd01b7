//! Bad scenario files get an error naming the file, the line where the parser knows it,
//! the field, and what was expected. None of them panics.

use simulator::{Scenario, ScenarioError};

const GOOD: &str = r#"name = "t"
protocol = "raft"
nodes = 6
duration = "10s"

[[faults]]
at = "1s"
kind = "partition"
groups = [[1, 2, 3], [4, 5, 6]]
"#;

fn error(text: &str) -> ScenarioError {
    match Scenario::from_toml("bad.toml", text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn the_good_scenario_parses() {
    let sc = Scenario::from_toml("good.toml", GOOD).unwrap();
    assert_eq!(sc.nodes, 6);
    assert_eq!(sc.faults.len(), 1);
}

#[test]
fn an_unknown_field_names_the_field_the_line_and_the_known_fields() {
    let e = error(&GOOD.replace("nodes = 6", "nodes = 6\nnode_count = 6"));
    let text = e.to_string();
    assert_eq!(e.field, "node_count");
    assert!(text.starts_with("bad.toml:4"), "{text}");
    assert!(
        text.contains("node_count") && text.contains("expected one of"),
        "{text}"
    );
}

#[test]
fn an_unknown_node_id_in_a_partition_is_rejected_with_the_clusters_range() {
    let e = error(&GOOD.replace("[4, 5, 6]", "[4, 5, 7]"));
    assert_eq!(e.line, Some(6), "{e}");
    assert_eq!(e.field, "faults[0].groups");
    assert!(
        e.message.contains("unknown node id 7") && e.message.contains("1 to 6"),
        "{e}"
    );
}

#[test]
fn a_node_in_two_partition_groups_is_rejected() {
    let e = error(&GOOD.replace("[4, 5, 6]", "[3, 4, 5, 6]"));
    assert_eq!(e.field, "faults[0].groups");
    assert!(
        e.message.contains("node 3 is in two partition groups"),
        "{e}"
    );
}

#[test]
fn negative_unparseable_unitless_and_absurd_durations_are_rejected() {
    for (bad, expected) in [
        ("\"-5s\"", "non-negative"),
        ("\"five seconds\"", "like \"150ms\""),
        ("10", "with a unit"),
        ("\"400d\"", "with a unit"),
        ("\"100000h\"", "at most 24h"),
    ] {
        let e = error(&GOOD.replace("duration = \"10s\"", &format!("duration = {bad}")));
        assert_eq!(e.line, Some(4), "{bad}: {e}");
        assert_eq!(e.field, "duration", "{bad}: {e}");
        assert!(e.to_string().contains(expected), "{bad}: {e}");
    }
}

#[test]
fn zero_nodes_and_too_many_nodes_are_rejected() {
    let e = error(&GOOD.replace("nodes = 6", "nodes = 0"));
    assert_eq!(e.field, "nodes");
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("1 to 64"), "{e}");
    assert_eq!(
        error(&GOOD.replace("nodes = 6", "nodes = 1000")).field,
        "nodes"
    );
}

#[test]
fn a_fault_after_the_end_of_the_run_is_rejected() {
    let e = error(&GOOD.replace("at = \"1s\"", "at = \"11s\""));
    assert_eq!(e.field, "faults[0].at");
}

#[test]
fn an_unknown_fault_kind_an_unknown_read_mode_and_a_bad_probability_are_rejected() {
    assert!(
        error(&GOOD.replace("kind = \"partition\"", "kind = \"meteor\""))
            .to_string()
            .contains("meteor")
    );
    let e = error(&format!("{GOOD}\n[workload]\nread_mode = \"psychic\"\n"));
    assert_eq!(e.field, "workload.read_mode");
    let e = error(&format!("{GOOD}\n[network]\nloss = 1.5\n"));
    assert_eq!(e.field, "network.loss");
    assert!(e.message.contains("between 0 and 1"));
}

#[test]
fn an_unknown_checker_in_expectations_is_rejected() {
    let e = error(&format!("{GOOD}\n[expect]\npass = [\"telepathy\"]\n"));
    assert!(e.message.contains("unknown checker \"telepathy\""), "{e}");
}

#[test]
fn malformed_toml_names_the_line() {
    let e = error("name = \"t\"\nprotocol = \"raft\nnodes = 3\n");
    assert_eq!(e.line, Some(2), "{e}");
}

#[test]
fn every_shipped_scenario_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            count += 1;
        }
    }
    assert!(
        count >= 5,
        "found only {count} scenarios in {}",
        dir.display()
    );
}

#[test]
#[ignore = "prints messages for a human to read"]
fn show_messages() {
    for text in [
        GOOD.replace("nodes = 6", "nodes = 6\nnode_count = 6"),
        GOOD.replace("[4, 5, 6]", "[4, 5, 7]"),
        GOOD.replace("[4, 5, 6]", "[3, 4, 5, 6]"),
        GOOD.replace("duration = \"10s\"", "duration = \"-5s\""),
        GOOD.replace("duration = \"10s\"", "duration = 10"),
        GOOD.replace("nodes = 6", "nodes = 0"),
        GOOD.replace("kind = \"partition\"", "kind = \"meteor\""),
    ] {
        println!("{}", error(&text));
    }
}

#[test]
fn every_shipped_scenario_writes_back_as_toml_that_parses_to_the_same_scenario() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let sc = Scenario::load(&path).unwrap();
        let text = sc.to_toml();
        let again =
            Scenario::from_toml("again.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(again.to_toml(), text, "{}", path.display());
        assert_eq!(again.faults, sc.faults);
        assert_eq!(again.expect, sc.expect);
        assert_eq!(
            format!("{:?}", again.workload),
            format!("{:?}", sc.workload)
        );
        assert_eq!(format!("{:?}", again.network), format!("{:?}", sc.network));
        assert_eq!(
            again.swarm,
            sc.swarm,
            "{}: [swarm] written back",
            path.display()
        );
    }
}

const TARGETED: &str = r#"name = "t"
protocol = "raft"
nodes = 5
duration = "10s"

[storage]
write_latency = ["1ms", "5ms"]

[nemesis]
crash = 1.0
crash_leader = 2.0
pause_leader = 0.5
isolate_leader = 0.5
crash_writing = 8.0
drift = 1.0
crash_duration = ["5ms", "100ms"]
crash_writing_duration = ["5ms", "50ms"]
"#;

#[test]
fn targeted_nemesis_kinds_and_their_own_durations_parse_and_write_back() {
    use simulator::scenario::NEMESIS_KINDS;
    let sc = Scenario::from_toml("t.toml", TARGETED).unwrap_or_else(|e| panic!("{e}"));
    let nem = sc.nemesis.as_ref().unwrap();
    let k = |name: &str| NEMESIS_KINDS.iter().position(|&n| n == name).unwrap();
    assert_eq!(nem.rates[k("crash_leader")], 2.0);
    assert_eq!(nem.rates[k("crash_writing")], 8.0);
    assert_eq!(nem.rates[k("partition")], 0.0);
    let ms = std::time::Duration::from_millis;
    assert_eq!(nem.duration_of(k("crash")), (ms(5), ms(100)));
    assert_eq!(nem.duration_of(k("crash_writing")), (ms(5), ms(50)));
    // A kind without a range of its own lasts `fault_duration` (default 200ms to 3s).
    assert_eq!(nem.duration_of(k("crash_leader")), nem.fault_duration);
    let again = Scenario::from_toml("again.toml", &sc.to_toml()).unwrap();
    assert_eq!(again.to_toml(), sc.to_toml());
    let nem2 = again.nemesis.unwrap();
    assert_eq!((nem2.rates, nem2.durations), (nem.rates, nem.durations));
}

#[test]
fn a_negative_targeted_rate_names_its_line_and_field() {
    let e = error(&TARGETED.replace("crash_leader = 2.0", "crash_leader = -1.0"));
    assert_eq!(e.field, "nemesis.crash_leader", "{e}");
    assert_eq!(e.line, Some(11), "{e}");
    assert!(e.message.contains("between 0 and 1000"), "{e}");
    // `crash` is found on its own line, not on `crash_leader`'s.
    let e = error(&TARGETED.replace("crash = 1.0", "crash = -1.0"));
    assert_eq!(
        (e.field.as_str(), e.line),
        ("nemesis.crash", Some(10)),
        "{e}"
    );
}

#[test]
fn a_per_kind_duration_must_be_ordered_positive_and_within_the_run() {
    for bad in [
        r#"["100ms", "5ms"]"#,
        r#"["0ms", "0ms"]"#,
        r#"["1s", "11s"]"#,
    ] {
        let text = TARGETED.replace(
            r#"crash_duration = ["5ms", "100ms"]"#,
            &format!("crash_duration = {bad}"),
        );
        let e = error(&text);
        assert_eq!(e.field, "nemesis.crash_duration", "{bad}: {e}");
        assert_eq!(e.line, Some(16), "{bad}: {e}");
        assert!(e.message.contains("min <= max"), "{bad}: {e}");
    }
    // clock_step is never undone: it has no duration of its own.
    let e = error(&TARGETED.replace(
        "drift = 1.0",
        "drift = 1.0\nclock_step_duration = [\"1ms\", \"2ms\"]",
    ));
    assert_eq!(e.field, "nemesis.clock_step_duration", "{e}");
}

#[test]
fn crash_writing_needs_writes_that_take_time() {
    let e = error(&TARGETED.replace(r#"write_latency = ["1ms", "5ms"]"#, ""));
    assert_eq!(e.field, "nemesis.crash_writing", "{e}");
    assert_eq!(e.line, Some(14), "{e}");
    assert!(e.message.contains("write_latency"), "{e}");
}

#[test]
fn read_only_servers_need_sticky_clients_and_known_node_ids() {
    let with = |workload: &str| format!("{GOOD}\n[workload]\n{workload}\n");
    let e = error(&with("read_only_at = [5]"));
    assert_eq!(e.field, "workload.read_only_at");
    assert!(e.to_string().contains("sticky"), "{e}");
    let e = error(&with("target = \"sticky\"\nread_only_at = [7]"));
    assert_eq!(e.field, "workload.read_only_at");
    assert!(e.to_string().contains("unknown node id 7"), "{e}");
    let e = error(&with("target = \"nearest\""));
    assert_eq!(e.field, "workload.target");
    let sc = Scenario::from_toml(
        "good.toml",
        &with("target = \"sticky\"\nread_only_at = [2]"),
    )
    .unwrap();
    let again = Scenario::from_toml("again.toml", &sc.to_toml()).unwrap();
    assert_eq!(again.workload.read_only_at, vec![2]);
}

#[test]
fn a_read_mode_may_expect_checkers_otherwise_and_bad_overrides_name_their_table() {
    use protocol::ReadMode;
    let with = |expect: &str| {
        format!(
            "{GOOD}\n[expect]\npass = [\"log_safety\"]\nfail = [\"linearizability\"]\n{expect}\n"
        )
    };
    let sc = Scenario::from_toml(
        "good.toml",
        &with("\n[expect.read_mode.sync_quorum]\npass = [\"linearizability\"]"),
    )
    .unwrap();
    let (pass, fail) = sc.expect.checkers_for(Some(ReadMode::SyncQuorum));
    assert_eq!(pass, vec!["log_safety", "linearizability"]);
    assert!(fail.is_empty(), "{fail:?}");
    for other in [None, Some(ReadMode::Sync), Some(ReadMode::Local)] {
        let (pass, fail) = sc.expect.checkers_for(other);
        assert_eq!(
            (pass, fail),
            (sc.expect.pass.clone(), sc.expect.fail.clone())
        );
    }
    let again = Scenario::from_toml("again.toml", &sc.to_toml()).unwrap();
    assert_eq!(again.expect, sc.expect);

    let e = error(&with(
        "\n[expect.read_mode.eventual]\npass = [\"linearizability\"]",
    ));
    assert_eq!(e.field, "expect.read_mode.eventual", "{e}");
    assert_eq!(e.line, Some(15), "{e}");
    assert!(e.message.contains("sync_quorum"), "{e}");
    let e = error(&with(
        "\n[expect.read_mode.sync]\nfail = [\"linearisability\"]",
    ));
    assert_eq!(e.field, "expect.read_mode.sync", "{e}");
    assert!(e.message.contains("unknown checker"), "{e}");
    let e = error(&with(
        "\n[expect.read_mode.sync]\npass = [\"liveness\"]\nfail = [\"liveness\"]",
    ));
    assert!(e.message.contains("both to pass and to fail"), "{e}");
    let e = error(&with("\n[expect.read_mode.sync]\npasses = [\"liveness\"]"));
    assert_eq!(e.field, "expect.read_mode.sync.passes", "{e}");
}

#[test]
fn initial_members_and_membership_changes_parse_and_write_back() {
    let text = GOOD.replace(
        "duration = \"10s\"\n",
        "duration = \"10s\"\n\n[options]\nmembers = [4, 1, 2]\n\n[nemesis]\nreconfigure = 2.5\n",
    ) + "\n[[faults]]\nat = \"2s\"\nkind = \"add_server\"\nnode = 5\n\n[[faults]]\nat = \"3s\"\nkind = \"remove_server\"\nnode = 1\n";
    let sc = Scenario::from_toml("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sc.options.members, Some(vec![1, 2, 4]));
    use simulator::scenario::{Fault, NEMESIS_KINDS};
    assert_eq!(sc.faults[1].fault, Fault::AddServer { node: 5 });
    assert_eq!(sc.faults[2].fault, Fault::RemoveServer { node: 1 });
    let k = NEMESIS_KINDS
        .iter()
        .position(|&n| n == "reconfigure")
        .unwrap();
    assert_eq!(sc.nemesis.as_ref().unwrap().rates[k], 2.5);
    let again = Scenario::from_toml("again.toml", &sc.to_toml()).unwrap();
    assert_eq!(again.to_toml(), sc.to_toml());
    assert_eq!(again.options.members, sc.options.members);
    assert_eq!(again.faults, sc.faults);
}

#[test]
fn bad_initial_members_name_the_line_and_what_was_expected() {
    let with = |members: &str| {
        GOOD.replace(
            "duration = \"10s\"\n",
            &format!("duration = \"10s\"\n\n[options]\nmembers = {members}\n"),
        )
    };
    for (members, says) in [
        ("[]", "at least one initial member"),
        (
            "[1, 7]",
            "unknown voting node id 7: expected ids from 1 to 6",
        ),
        ("[0]", "unknown voting node id 0"),
        ("[2, 1, 2]", "node 2 is listed twice"),
    ] {
        let e = error(&with(members));
        assert_eq!(e.field, "options.members", "{members}: {e}");
        assert_eq!(e.line, Some(7), "{members}: {e}");
        assert!(e.message.contains(says), "{members}: {e}");
    }
}

#[test]
fn a_membership_change_names_a_node_of_the_cluster() {
    let e = error(
        &(GOOD.to_string() + "\n[[faults]]\nat = \"2s\"\nkind = \"remove_server\"\nnode = 9\n"),
    );
    assert_eq!(e.field, "faults[1].node", "{e}");
    assert_eq!(e.line, Some(11), "{e}");
    assert!(e.message.contains("unknown node id 9"), "{e}");
    // Only a node id: a change is sent to the leader, the node is the server it concerns.
    let e = error(
        &(GOOD.to_string()
            + "\n[[faults]]\nat = \"2s\"\nkind = \"add_server\"\nnode = \"leader\"\n"),
    );
    assert!(e.line.is_some(), "{e}");
    // reconfigure is never undone: it has no duration of its own.
    let e = error(
        &(GOOD.to_string()
            + "\n[nemesis]\nreconfigure = 1.0\nreconfigure_duration = [\"1ms\", \"2ms\"]\n"),
    );
    assert_eq!(e.field, "nemesis.reconfigure_duration", "{e}");
}

#[test]
fn protocol_option_tables_are_kept_with_their_lines_and_write_back() {
    let text = GOOD.replace(
        "duration = \"10s\"\n",
        "duration = \"10s\"\n\n[options]\npre_vote = true\n\n[options.paxos]\nsnapshot_every = 100\nlease = true\nboost_interval = \"1s\"\n\n[options.raft]\n\"odd key\" = { nested = [1, 2] }\n",
    );
    let sc = Scenario::from_toml("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert!(sc.options.pre_vote);
    let paxos = &sc.options.by_protocol["paxos"];
    assert_eq!(paxos["snapshot_every"].value, toml::Value::Integer(100));
    assert_eq!(paxos["snapshot_every"].line, Some(10));
    assert_eq!(paxos["lease"].value, toml::Value::Boolean(true));
    assert_eq!(
        paxos["boost_interval"].value,
        toml::Value::String("1s".into())
    );
    assert_eq!(paxos["boost_interval"].line, Some(12));
    assert_eq!(sc.options.by_protocol["raft"]["odd key"].line, Some(15));
    assert_eq!(sc.line_of("options.paxos.lease"), Some(11));
    // Written back, read again: the same tables and values.
    let again = Scenario::from_toml("again.toml", &sc.to_toml()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.to_toml(), sc.to_toml());
    let values = |s: &Scenario| {
        s.options
            .by_protocol
            .iter()
            .map(|(p, t)| {
                (
                    p.clone(),
                    t.iter()
                        .map(|(k, o)| (k.clone(), o.value.clone()))
                        .collect(),
                )
            })
            .collect::<Vec<(String, Vec<(String, toml::Value)>)>>()
    };
    assert_eq!(values(&again), values(&sc));
    // An inline table under [options] is the same table.
    let inline = GOOD.replace(
        "duration = \"10s\"\n",
        "duration = \"10s\"\n[options]\npaxos = { lease = true }\n",
    );
    let sc = Scenario::from_toml("t.toml", &inline).unwrap();
    assert_eq!(sc.options.by_protocol["paxos"]["lease"].line, Some(6));
}

#[test]
fn a_plain_value_where_a_protocol_table_or_option_belongs_is_an_unknown_field() {
    let e = error(&GOOD.replace(
        "duration = \"10s\"\n",
        "duration = \"10s\"\n[options]\npaxos = 3\n",
    ));
    assert_eq!(e.field, "options.paxos", "{e}");
    assert_eq!(e.line, Some(6), "{e}");
    assert!(e.message.contains("unknown field"), "{e}");
}

#[test]
fn a_field_is_placed_on_the_line_that_writes_it() {
    let text = GOOD.replace(
        "duration = \"10s\"\n",
        "duration = \"10s\"\n\n[options]\nheartbeat_interval = \"50ms\"\n\n[workload]\nread_mode = \"log\"\n",
    );
    let sc = Scenario::from_toml("t.toml", &text).unwrap();
    assert_eq!(sc.line_of("nodes"), Some(3));
    assert_eq!(sc.line_of("options.heartbeat_interval"), Some(7));
    assert_eq!(sc.line_of("workload.read_mode"), Some(10));
    assert_eq!(sc.line_of("faults[0].groups"), Some(15));
    assert_eq!(sc.line_of("faults[0]"), Some(12));
    // Below a plain value: that value's line. Not written (a default): no line.
    assert_eq!(sc.line_of("nodes.observers"), Some(3));
    assert_eq!(sc.line_of("options.election_timeout"), None);
    assert_eq!(sc.line_of("faults[3].node"), None);
    assert_eq!(sc.line_of("options"), Some(6));
}

#[test]
fn corrupt_faults_with_and_without_a_pick_and_the_corrupt_nemesis_parse_and_write_back() {
    use simulator::scenario::{Fault, NodeSel, NEMESIS_KINDS};
    let text = GOOD.replace(
        "duration = \"10s\"\n",
        "duration = \"10s\"\n\n[nemesis]\ncorrupt = 1.5\ncorrupt_duration = [\"50ms\", \"2s\"]\n",
    ) + "\n[[faults]]\nat = \"2s\"\nkind = \"corrupt\"\nnode = 3\npick = 7\n\n[[faults]]\nat = \"3s\"\nkind = \"corrupt\"\nnode = \"leader\"\n";
    let sc = Scenario::from_toml("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sc.faults[1].fault,
        Fault::Corrupt {
            node: NodeSel::Id(3),
            pick: Some(7)
        }
    );
    assert_eq!(
        sc.faults[2].fault,
        Fault::Corrupt {
            node: NodeSel::Leader,
            pick: None
        }
    );
    let k = NEMESIS_KINDS.iter().position(|&n| n == "corrupt").unwrap();
    let nem = sc.nemesis.as_ref().unwrap();
    assert_eq!(nem.rates[k], 1.5);
    let ms = std::time::Duration::from_millis;
    assert_eq!(nem.duration_of(k), (ms(50), ms(2000)));
    let again = Scenario::from_toml("again.toml", &sc.to_toml()).unwrap();
    assert_eq!(again.faults, sc.faults);
    assert_eq!(again.to_toml(), sc.to_toml());
    let nem2 = again.nemesis.unwrap();
    assert_eq!((nem2.rates, nem2.durations), (nem.rates, nem.durations));
    // The field a refusal names is the file's, whatever order the schedule sorts into.
    assert_eq!(sc.fault_field("corrupt"), "faults[1].kind");
    assert_eq!(sc.fault_field("crash"), "faults");
}

#[test]
fn a_bad_corrupt_fault_or_rate_names_its_line_field_and_what_was_expected() {
    let with =
        |fault: &str| format!("{GOOD}\n[[faults]]\nat = \"2s\"\nkind = \"corrupt\"\n{fault}");
    let e = error(&with("node = 2\npick = -1\n"));
    // Placed on the fault's own table, as every check of a fault's values is.
    assert_eq!(
        (e.field.as_str(), e.line),
        ("faults[1].pick", Some(11)),
        "{e}"
    );
    assert!(
        e.message.contains("expected a whole number >= 0") && e.message.contains("-1"),
        "{e}"
    );
    let e = error(&with("node = 9\n"));
    assert_eq!(e.field, "faults[1].node", "{e}");
    assert!(e.message.contains("nodes are 1 to 6"), "{e}");
    // A mistyped value names the fault and its line (not the start of the list), and
    // what was expected.
    let e = error(&with("node = 2\npick = \"first\"\n"));
    assert_eq!((e.field.as_str(), e.line), ("faults[1]", Some(11)), "{e}");
    assert!(
        e.message.contains("expected a whole number >= 0 for pick"),
        "{e}"
    );
    let e = error(&with("node = 2\nrecord = 3\n"));
    assert_eq!((e.field.as_str(), e.line), ("faults[1]", Some(11)), "{e}");
    assert!(e.message.contains("unknown field `record`"), "{e}");
    let e = error(&with("pick = 1\n"));
    assert!(e.message.contains("missing field `node`"), "{e}");
    let nemesis = |fields: &str| {
        GOOD.replace(
            "duration = \"10s\"\n",
            &format!("duration = \"10s\"\n\n[nemesis]\n{fields}\n"),
        )
    };
    let e = error(&nemesis("corrupt = -2.0"));
    assert_eq!(
        (e.field.as_str(), e.line),
        ("nemesis.corrupt", Some(7)),
        "{e}"
    );
    let e = error(&nemesis(
        "corrupt = 1.0\ncorrupt_duration = [\"1s\", \"20s\"]",
    ));
    assert_eq!(
        (e.field.as_str(), e.line),
        ("nemesis.corrupt_duration", Some(8)),
        "{e}"
    );
}
