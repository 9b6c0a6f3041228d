//! A route's stops: their order numbers, their sites and checklists
//! checked against the route's group, the ids they keep through an edit
//! (what phones' offline work names), and how they are written.

use super::*;

/// The order a list of stops gets: positions 1..n, or the given `seq`s
/// when every stop has one and they are exactly 1..n.
pub fn stop_order(stops: &[StopInput]) -> AppResult<Vec<i32>> {
    let given: Vec<Option<i32>> = stops.iter().map(|s| s.seq).collect();
    if given.iter().all(Option::is_none) {
        return Ok((1..=stops.len() as i32).collect());
    }
    let seqs: Vec<i32> = given
        .iter()
        .map(|s| s.ok_or_else(|| AppError::invalid("stops", "give seq for every stop or for none")))
        .collect::<AppResult<_>>()?;
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    if sorted.iter().enumerate().any(|(i, s)| *s != i as i32 + 1) {
        return Err(AppError::invalid(
            "stops",
            "seq must run 1..n without gaps or repeats",
        ));
    }
    Ok(seqs)
}

/// Checks that the assignee is an active inspector of the route's group.
pub fn check_assignee(c: &mut Conn, group_id: &str, assignee: Option<&str>) -> AppResult<()> {
    let Some(a) = assignee else { return Ok(()) };
    let row: Option<(String, Option<String>, bool)> = users::table
        .find(a)
        .select((users::role, users::group_id, users::active))
        .first(c)
        .optional()?;
    match row {
        Some((role, Some(g), true)) if role == Role::Inspector.as_str() && g == group_id => Ok(()),
        Some(_) => Err(AppError::invalid(
            "assignee_id",
            "must be an active inspector of the route's group",
        )),
        None => Err(AppError::invalid("assignee_id", "no such user")),
    }
}

/// Checks that every stop names a live site of the group and a checklist
/// the group may use (the rule for routes and the schedules that make them).
pub fn check_stops(c: &mut Conn, group_id: &str, stops: &[StopInput]) -> AppResult<()> {
    if stops.len() > MAX_STOPS {
        return Err(AppError::invalid(
            "stops",
            format!("at most {MAX_STOPS} stops"),
        ));
    }
    let site_ids: Vec<String> = stops.iter().map(|s| s.site_id.clone()).collect();
    let site_groups: HashMap<String, (String, bool)> = sites::table
        .filter(sites::id.eq_any(&site_ids))
        .select((sites::id, sites::group_id, sites::deleted))
        .load::<(String, String, bool)>(c)?
        .into_iter()
        .map(|(id, g, d)| (id, (g, d)))
        .collect();
    let template_ids: Vec<String> = stops.iter().map(|s| s.template_id.clone()).collect();
    let usable = templates::usable_by_group(c, &template_ids, group_id)?;
    for (i, s) in stops.iter().enumerate() {
        match site_groups.get(&s.site_id) {
            Some((g, false)) if g == group_id => {}
            _ => {
                return Err(AppError::invalid(
                    &format!("stops[{i}].site_id"),
                    "must be a site of the route's group",
                ));
            }
        }
        if s.template_id.trim().is_empty() {
            return Err(AppError::invalid(
                &format!("stops[{i}].template_id"),
                "choose a checklist",
            ));
        }
        if usable.get(&s.template_id) != Some(&true) {
            return Err(AppError::invalid(
                &format!("stops[{i}].template_id"),
                "must be a live checklist of the district or the route's group",
            ));
        }
        validate::optional_text(&format!("stops[{i}].notes"), &s.notes, 1000)?;
    }
    Ok(())
}

/// Most stops a route may have.
pub const MAX_STOPS: usize = 200;

/// The id each stop of a new list keeps: the one it names, or else the
/// first stop of the route at the same site (in the route's order) that no
/// other stop of the list keeps; `None` for a stop that is new. This is the
/// one rule by which a stop keeps its id through every edit that keeps the
/// stop (rename, reorder, a schedule's edit, a form saved unchanged), so
/// the work phones hold on it offline still names a stop of the route.
/// `old` is the route's stops as `(id, site_id)` in their order; ids given
/// in `new` are assumed to be among them (checked by the caller).
pub fn keep_stop_ids(old: &[(String, String)], new: &[StopInput]) -> Vec<Option<String>> {
    let named: HashSet<&str> = new.iter().filter_map(|s| s.id.as_deref()).collect();
    let mut free: Vec<&(String, String)> = old
        .iter()
        .filter(|(id, _)| !named.contains(id.as_str()))
        .collect();
    new.iter()
        .map(|s| match &s.id {
            Some(id) => Some(id.clone()),
            None => {
                let at = free.iter().position(|(_, site)| *site == s.site_id)?;
                Some(free.remove(at).0.clone())
            }
        })
        .collect()
}

/// Checks the stops against the route's group and writes them, keeping
/// the ids of stops that were already on this route ([`keep_stop_ids`]).
pub(super) fn write_stops(
    c: &mut Conn,
    route_id: &str,
    group_id: &str,
    stops: &[StopInput],
    replace: bool,
) -> AppResult<()> {
    check_stops(c, group_id, stops)?;
    let seqs = stop_order(stops)?;
    let existing: Vec<(String, String)> = if replace {
        rs::table
            .filter(rs::route_id.eq(route_id))
            .order(rs::seq)
            .select((rs::id, rs::site_id))
            .load(c)?
    } else {
        Vec::new()
    };
    let mut named = HashSet::new();
    for (i, s) in stops.iter().enumerate() {
        if let Some(id) = &s.id {
            if !existing.iter().any(|(e, _)| e == id) {
                return Err(AppError::invalid(
                    &format!("stops[{i}].id"),
                    "is not a stop of this route",
                ));
            }
            if !named.insert(id.clone()) {
                return Err(AppError::invalid(
                    &format!("stops[{i}].id"),
                    "is listed twice",
                ));
            }
        }
    }
    let ids = keep_stop_ids(&existing, stops);
    let kept: HashSet<&String> = ids.iter().flatten().collect();
    // Stops left out go; the kept ones are rewritten in their new order.
    let gone: Vec<&String> = existing
        .iter()
        .map(|(id, _)| id)
        .filter(|id| !kept.contains(id))
        .collect();
    diesel::delete(rs::table.filter(rs::id.eq_any(gone))).execute(c)?;
    for ((s, seq), id) in stops.iter().zip(seqs).zip(&ids) {
        let notes = validate::optional_text("notes", &s.notes, 1000)?;
        match id {
            Some(id) => {
                diesel::update(rs::table.find(id))
                    .set((
                        rs::seq.eq(seq),
                        rs::site_id.eq(&s.site_id),
                        rs::template_id.eq(&s.template_id),
                        rs::notes.eq(notes),
                    ))
                    .execute(c)?;
            }
            None => {
                diesel::insert_into(rs::table)
                    .values((
                        rs::id.eq(clock::new_id()),
                        rs::route_id.eq(route_id),
                        rs::seq.eq(seq),
                        rs::site_id.eq(&s.site_id),
                        rs::template_id.eq(&s.template_id),
                        rs::notes.eq(notes),
                    ))
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stop(seq: Option<i32>) -> StopInput {
        StopInput {
            id: None,
            seq,
            site_id: "s".into(),
            template_id: "t".into(),
            notes: String::new(),
        }
    }

    #[test]
    fn stop_order_is_dense() {
        assert_eq!(stop_order(&[stop(None), stop(None)]).unwrap(), vec![1, 2]);
        assert_eq!(
            stop_order(&[stop(Some(2)), stop(Some(1))]).unwrap(),
            vec![2, 1]
        );
        assert!(stop_order(&[stop(Some(1)), stop(Some(3))]).is_err());
        assert!(stop_order(&[stop(Some(1)), stop(Some(1))]).is_err());
        assert!(stop_order(&[stop(Some(1)), stop(None)]).is_err());
        assert!(stop_order(&[stop(Some(0))]).is_err());
    }

    fn at(site: &str, id: Option<&str>) -> StopInput {
        StopInput {
            id: id.map(str::to_string),
            site_id: site.into(),
            ..stop(None)
        }
    }

    #[test]
    fn stops_keep_their_ids_by_site_visit() {
        let old = vec![
            ("s1".to_string(), "a".to_string()),
            ("s2".to_string(), "b".to_string()),
            ("s3".to_string(), "a".to_string()),
        ];
        // Saved unchanged without ids: every stop keeps its own.
        let same = [at("a", None), at("b", None), at("a", None)];
        let ids: Vec<_> = keep_stop_ids(&old, &same).into_iter().flatten().collect();
        assert_eq!(ids, ["s1", "s2", "s3"]);
        // Named ids win; the other visit to the same site keeps the rest.
        let named = [at("a", Some("s3")), at("a", None), at("c", None)];
        assert_eq!(
            keep_stop_ids(&old, &named),
            [Some("s3".to_string()), Some("s1".to_string()), None]
        );
    }

    proptest::proptest! {
        /// Any reorder of a route's stops, sent without ids, keeps every id,
        /// each on a stop at the same site.
        #[test]
        fn a_reorder_keeps_every_stop_id(
            sites in proptest::collection::vec(0u8..4, 0..12),
            seed in proptest::prelude::any::<u64>(),
        ) {
            use rand::{SeedableRng, seq::SliceRandom};
            let old: Vec<(String, String)> = sites
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("id{i}"), format!("site{s}")))
                .collect();
            let mut new: Vec<StopInput> = old.iter().map(|(_, s)| at(s, None)).collect();
            new.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
            let ids = keep_stop_ids(&old, &new);
            let mut kept: Vec<String> = ids.iter().flatten().cloned().collect();
            kept.sort();
            let mut all: Vec<String> = old.iter().map(|(i, _)| i.clone()).collect();
            all.sort();
            proptest::prop_assert_eq!(kept, all);
            for (s, id) in new.iter().zip(&ids) {
                let id = id.as_deref().unwrap_or_default();
                let site = &old.iter().find(|(i, _)| i == id).map(|(_, s)| s.clone());
                proptest::prop_assert_eq!(Some(&s.site_id), site.as_ref());
            }
        }
    }
}
