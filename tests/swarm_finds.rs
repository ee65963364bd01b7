//! The general campaign's measured power, frozen. `scenarios/mutants/swarm_finds.toml`
//! lists, for every mutant of every protocol, the first seed of `scenarios/swarm.toml` at
//! which it fails with its table row's checker (what `sim mutants --scenario
//! scenarios/swarm.toml` reports). This test replays each find: the seed is within the
//! budget, the mutant fails it with the row's checker, and the same seed without the
//! mutant does not fail that way (a find that is the correct protocol's own failure is no
//! find). A change to the swarm, the simulator or a protocol that loses a find, or moves
//! it past the budget, fails here by name; re-measure and update the file (docs/fuzzing.md
//! says how).

mod common;

use serde::Deserialize;
use sim::hunt;
use simulator::Scenario;
use std::collections::BTreeSet;

/// The seeds the swarm has to find each mutant in (issue #11).
const BUDGET: u64 = 2000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Finds {
    find: Vec<Find>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Find {
    bug: String,
    seed: u64,
}

#[test]
fn every_mutant_is_found_by_the_swarm_at_its_frozen_seed_within_the_budget() {
    let root = common::root();
    let text = std::fs::read_to_string(root.join("scenarios/mutants/swarm_finds.toml")).unwrap();
    let finds: Finds = toml::from_str(&text).unwrap_or_else(|e| panic!("swarm_finds.toml: {e}"));
    let table = hunt::load_table(&root.join(hunt::MUTANT_TABLE)).unwrap();
    let swarm = Scenario::load(&root.join("scenarios/swarm.toml")).unwrap();
    let listed: BTreeSet<&str> = finds.find.iter().map(|f| f.bug.as_str()).collect();
    assert_eq!(listed.len(), finds.find.len(), "a mutant is listed twice");
    for entry in sim::protocols::PROTOCOLS {
        for bug in entry.bugs {
            assert!(
                listed.contains(bug.name),
                "{} is not in swarm_finds.toml: measure it with sim mutants --scenario scenarios/swarm.toml",
                bug.name
            );
        }
    }
    let mut found = 0;
    let mut problems = Vec::new();
    // Whether the swarm at `seed` is a find of `bug`: it fails the row's checker with the
    // mutant and not without it (a find that is the correct protocol's own failure is no
    // find).
    let mut replay = |bug: &str, seed: u64| {
        let row = table
            .iter()
            .find(|r| r.bug == bug)
            .unwrap_or_else(|| panic!("{bug} has no row in the mutant table"));
        let mut sc = swarm.clone();
        sc.protocol = row.protocol.clone();
        let with = hunt::seed_failures(&sc, &[bug.to_string()], seed, false).unwrap();
        let without = hunt::seed_failures(&sc, &[], seed, false).unwrap();
        if !hunt::caught(&with, &row.caught_by) {
            problems.push(format!(
                "{bug}: swarm seed {seed} no longer fails {} (it fails: {with:?})",
                row.caught_by
            ));
            false
        } else if hunt::caught(&without, &row.caught_by) {
            problems.push(format!(
                "{bug}: swarm seed {seed} fails {} without the mutant too: not a find",
                row.caught_by
            ));
            false
        } else {
            true
        }
    };
    for f in &finds.find {
        assert!(
            f.seed < BUDGET,
            "{}: swarm seed {} is past the budget of {BUDGET}",
            f.bug,
            f.seed
        );
        found += usize::from(replay(&f.bug, f.seed));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(found, finds.find.len());
    println!("the swarm finds all {found} mutants within {BUDGET} seeds");
}
