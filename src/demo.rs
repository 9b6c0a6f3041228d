//! `fieldsync demo`: a realistic district to try the server with. Modelled
//! on the liaison groups of Changshou District, Chongqing: river outfalls
//! on the Taohua river, forest-fire patrols around Yunji and Yuntai, the
//! chemical park in Yanjia, a village workshop at Longgou.

use crate::auth::{Caller, Role};
use crate::db::Db;
use crate::db::schema::groups as groups_table;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::reference::routes::{self, NewRoute, StopInput};
use crate::reference::sites::{self, NewSite};
use crate::reference::templates::{self, Item, ItemKind, NewTemplate};
use crate::reference::users::{self, NewUser};
use crate::reference::{groups, groups::NewGroup};
use chrono::{Duration, Utc};
use diesel::prelude::*;

/// What was loaded, for the command to print.
#[derive(Debug, Default)]
pub struct Loaded {
    pub groups: usize,
    pub sites: usize,
    pub templates: usize,
    pub users: Vec<(String, Role)>,
    pub routes: usize,
}

struct GroupSpec {
    name: &'static str,
    towns: &'static [&'static str],
    coordinator: (&'static str, &'static str),
    inspectors: &'static [(&'static str, &'static str)],
    sites: &'static [(&'static str, &'static str, &'static str, f64, f64, f64)],
}

const GROUPS: &[GroupSpec] = &[
    GroupSpec {
        name: "渡舟联络组",
        towns: &["渡舟街道", "凤城街道"],
        coordinator: ("zhoumin", "周敏"),
        inspectors: &[("liming", "李明"), ("wangfang", "王芳")],
        sites: &[
            (
                "桃花河渡舟段",
                "river_section",
                "渡舟街道桃花河沿岸",
                29.8512,
                107.0645,
                800.0,
            ),
            (
                "桃花河1号排口(渡舟大桥)",
                "outfall",
                "渡舟大桥下游50米",
                29.8571,
                107.0812,
                60.0,
            ),
            (
                "桃花溪凤城段",
                "river_section",
                "凤城街道桃花溪公园",
                29.8348,
                107.0754,
                600.0,
            ),
            (
                "桃花溪三洞桥排口",
                "outfall",
                "凤城街道三洞桥",
                29.8391,
                107.0702,
                50.0,
            ),
            (
                "城区污水管网溢流点",
                "outfall",
                "凤城街道北城大道",
                29.8450,
                107.0858,
                80.0,
            ),
            (
                "凤城街道综合农贸市场",
                "enterprise",
                "凤城街道向阳路",
                29.8420,
                107.0790,
                120.0,
            ),
        ],
    },
    GroupSpec {
        name: "云集联络组",
        towns: &["云集镇", "石堰镇", "云台镇"],
        coordinator: ("sunli", "孙丽"),
        inspectors: &[
            ("chengang", "陈刚"),
            ("liuyang", "刘洋"),
            ("zhaolei", "赵磊"),
        ],
        sites: &[
            (
                "云台山护林点",
                "forest_patrol",
                "云台镇云台山林区入口",
                29.9870,
                107.1405,
                1500.0,
            ),
            (
                "石堰镇森林防火检查站",
                "forest_patrol",
                "石堰镇S102道路卡口",
                30.0213,
                107.1830,
                300.0,
            ),
            (
                "云集镇林区巡护点",
                "forest_patrol",
                "云集镇大堡村",
                30.0050,
                107.0950,
                1200.0,
            ),
            (
                "大洪河云集段排口",
                "outfall",
                "云集镇场镇下游",
                29.9932,
                107.0861,
                60.0,
            ),
            (
                "云集镇场镇生活污水处理站",
                "enterprise",
                "云集镇工业路",
                29.9951,
                107.0903,
                150.0,
            ),
        ],
    },
    GroupSpec {
        name: "长寿湖联络组",
        towns: &["长寿湖镇", "万顺镇", "洪湖镇"],
        coordinator: ("wuqiang", "吴强"),
        inspectors: &[("zhengwei", "郑伟"), ("huangjing", "黄静")],
        sites: &[
            (
                "龙沟村扶贫车间",
                "workshop",
                "长寿湖镇龙沟村3组",
                29.9168,
                107.2435,
                100.0,
            ),
            (
                "长寿湖水质监测断面",
                "river_section",
                "长寿湖狮子滩",
                29.9320,
                107.2660,
                1000.0,
            ),
            (
                "洪湖镇护林点",
                "forest_patrol",
                "洪湖镇万顺山脚",
                29.9645,
                107.3010,
                1500.0,
            ),
            (
                "万顺镇山火隐患点",
                "forest_patrol",
                "万顺镇8.23火场复绿区",
                29.9780,
                107.3220,
                800.0,
            ),
            (
                "长寿湖镇集中隔离点",
                "quarantine_site",
                "长寿湖镇原卫生院",
                29.9110,
                107.2380,
                150.0,
            ),
        ],
    },
    GroupSpec {
        name: "新市联络组",
        towns: &["新市街道", "晏家街道", "江南街道"],
        coordinator: ("qianhua", "钱华"),
        inspectors: &[("fenglin", "冯林"), ("heyun", "何芸")],
        sites: &[
            (
                "川维化工厂区",
                "enterprise",
                "晏家街道化中路",
                29.8150,
                107.0270,
                600.0,
            ),
            (
                "晏家工业园区雨水排口",
                "outfall",
                "晏家街道园区南路",
                29.8095,
                107.0330,
                60.0,
            ),
            (
                "新材料产业园企业",
                "enterprise",
                "长寿经开区齐心大道",
                29.8230,
                107.0120,
                400.0,
            ),
            (
                "新市场镇交通秩序点",
                "other",
                "新市街道场镇十字路口",
                29.9105,
                107.0215,
                200.0,
            ),
            (
                "龙溪河江南段",
                "river_section",
                "江南街道龙溪河大桥",
                29.8002,
                107.0905,
                700.0,
            ),
        ],
    },
];

fn item(key: &str, label: &str, kind: ItemKind, required: bool) -> Item {
    Item {
        required,
        ..Item::plain(key, label, kind)
    }
}

fn choice(key: &str, label: &str, options: &[&str]) -> Item {
    Item {
        options: Some(options.iter().map(|s| s.to_string()).collect()),
        ..item(key, label, ItemKind::Choice, true)
    }
}

fn checklists() -> Vec<NewTemplate> {
    vec![
        NewTemplate {
            name: "水环境巡查".into(),
            group_id: None,
            // With logic, as the district's members walk an outfall: the
            // smell asks which, an overflow fails and needs its photo and a
            // note and proposes the rectification, pipes are rows.
            items: vec![
                item("outfall_flowing", "排口是否有水流出", ItemKind::YesNo, true),
                Item {
                    fail_when: Some(". = '发黑'".into()),
                    score: Some(2.0),
                    ..choice("water_color", "水体颜色", &["清澈", "浑浊", "发黑", "其他"])
                },
                Item {
                    fail_when: Some(". = 'yes'".into()),
                    score: Some(1.0),
                    ..item("odor", "是否有异味", ItemKind::YesNo, true)
                },
                Item {
                    options: Some(vec!["腐臭".into(), "刺鼻".into(), "化学品味".into()]),
                    relevant: Some("${odor} = 'yes'".into()),
                    ..item("odor_kind", "异味类型", ItemKind::MultiChoice, true)
                },
                Item {
                    fail_when: Some(". = 'yes'".into()),
                    photo_required_when: Some(". = 'yes'".into()),
                    note_required_when: Some(". = 'yes'".into()),
                    score: Some(3.0),
                    on_fail: Some(templates::OnFail {
                        followup: templates::FollowupProposal {
                            title: "污水溢流整改".into(),
                            department_id: Some("区住房城乡建委".into()),
                            due_days: 3,
                        },
                    }),
                    ..item("sewage_overflow", "是否有污水溢流", ItemKind::YesNo, true)
                },
                Item {
                    fail_when: Some(". = 'yes'".into()),
                    score: Some(1.0),
                    on_fail: Some(templates::OnFail {
                        followup: templates::FollowupProposal {
                            title: "清理水面漂浮垃圾".into(),
                            department_id: None,
                            due_days: 7,
                        },
                    }),
                    ..item(
                        "floating_garbage",
                        "水面是否有漂浮垃圾",
                        ItemKind::YesNo,
                        false,
                    )
                },
                Item {
                    items: Some(vec![
                        item("pipe_diameter", "管径(毫米)", ItemKind::Number, true),
                        item("pipe_broken", "是否破损", ItemKind::YesNo, false),
                        Item {
                            relevant: Some("${pipe_broken} = 'yes'".into()),
                            ..item("pipe_photo", "破损处照片", ItemKind::Photo, true)
                        },
                    ]),
                    ..item("pipes", "排水管(每根一行)", ItemKind::Repeat, false)
                },
                item(
                    "water_quality_score",
                    "水质感官评分",
                    ItemKind::Score,
                    false,
                ),
                item("remarks", "其他情况说明", ItemKind::Text, false),
                item("inspector_sign", "巡查人签名", ItemKind::Signature, false),
            ],
        },
        NewTemplate {
            name: "森林防火巡查".into(),
            group_id: None,
            items: vec![
                item(
                    "firebreak_clear",
                    "防火隔离带是否畅通",
                    ItemKind::YesNo,
                    true,
                ),
                item("open_fire_found", "是否发现野外用火", ItemKind::YesNo, true),
                item(
                    "warning_signs_ok",
                    "警示标牌是否完好",
                    ItemKind::YesNo,
                    true,
                ),
                item("extinguishers", "灭火器材数量", ItemKind::Number, false),
                choice("risk_level", "火险等级", &["低", "中", "高", "极高"]),
                item("remarks", "其他情况说明", ItemKind::Text, false),
            ],
        },
        NewTemplate {
            name: "企业走访".into(),
            group_id: None,
            items: vec![
                item(
                    "license_valid",
                    "营业执照及许可证是否有效",
                    ItemKind::YesNo,
                    true,
                ),
                item(
                    "safety_ledger",
                    "安全生产台账是否健全",
                    ItemKind::YesNo,
                    true,
                ),
                item("emissions_ok", "污染物排放是否达标", ItemKind::YesNo, true),
                item("employees", "在岗职工人数", ItemKind::Number, false),
                item(
                    "difficulties",
                    "企业反映的困难和诉求",
                    ItemKind::Text,
                    false,
                ),
                item("satisfaction", "企业对服务的满意度", ItemKind::Score, false),
            ],
        },
    ]
}

/// The checklist that fits a kind of site.
fn template_for(kind: &str) -> usize {
    match kind {
        "forest_patrol" => 1,
        "enterprise" | "workshop" => 2,
        _ => 0,
    }
}

/// Loads the demo district. Refuses a database that already has groups:
/// the demo is for an empty district.
pub fn load(db: &Db, password: &str) -> AppResult<Loaded> {
    let hash = crate::auth::password::hash(password)?;
    db.write_blocking(move |c| {
        let n: i64 = groups_table::table.count().get_result(c)?;
        if n > 0 {
            return Err(AppError::conflict(
                ErrorCode::NotEmpty,
                "the district already has groups; the demo needs an empty database",
            ));
        }
        let admin_id = crate::db::schema::users::table
            .filter(crate::db::schema::users::role.eq("admin"))
            .select(crate::db::schema::users::id)
            .first::<String>(c)?;
        let admin = Caller {
            id: crate::ids::UserId::new(admin_id),
            username: "admin".into(),
            role: Role::Admin,
            group_id: None,
            department_id: None,
        };
        let mut out = Loaded::default();
        let mut template_ids = Vec::new();
        for t in checklists() {
            template_ids.push(templates::create(c, &admin, t)?.id);
            out.templates += 1;
        }
        let coordinator = users::insert(
            c,
            Some(&admin),
            NewUser {
                username: "district".into(),
                display_name: Some("区联络办 张主任".into()),
                role: Role::Coordinator,
                group_id: None,
                department_id: None,
                password: String::new(),
            },
            hash.clone(),
        )?;
        out.users.push((coordinator.username, Role::Coordinator));
        let tomorrow = (Utc::now() + Duration::days(1)).date_naive();
        for spec in GROUPS {
            let g = groups::create(
                c,
                &admin,
                NewGroup {
                    name: spec.name.into(),
                    towns: spec.towns.iter().map(|t| t.to_string()).collect(),
                },
            )?;
            out.groups += 1;
            let mut people = vec![(spec.coordinator, Role::Coordinator)];
            people.extend(spec.inspectors.iter().map(|p| (*p, Role::Inspector)));
            let mut inspector_ids = Vec::new();
            for ((username, display), role) in people {
                let u = users::insert(
                    c,
                    Some(&admin),
                    NewUser {
                        username: username.into(),
                        display_name: Some(display.into()),
                        role,
                        group_id: Some(g.id.clone()),
                        department_id: None,
                        password: String::new(),
                    },
                    hash.clone(),
                )?;
                if role == Role::Inspector {
                    inspector_ids.push(u.id.clone());
                }
                out.users.push((u.username, role));
            }
            let mut stops = Vec::new();
            for (name, kind, address, lat, lon, radius_m) in spec.sites {
                let s = sites::create(
                    c,
                    &admin,
                    NewSite {
                        group_id: g.id.clone(),
                        name: (*name).into(),
                        kind: (*kind).into(),
                        address: (*address).into(),
                        lat: *lat,
                        lon: *lon,
                        radius_m: *radius_m,
                        code: None,
                    },
                )?;
                out.sites += 1;
                stops.push(StopInput {
                    id: None,
                    seq: None,
                    site_id: s.id,
                    template_id: template_ids[template_for(kind)].clone(),
                    notes: String::new(),
                });
            }
            // One route for a named inspector (the first half of the sites),
            // one for the whole group (all of them, a weekly round).
            let half = stops.len().div_ceil(2);
            let mut first: Vec<StopInput> = stops[..half].to_vec();
            if let Some(s) = first.first_mut() {
                s.notes = "重点查看排口及周边,拍照留存".into();
            }
            routes::create(
                c,
                &admin,
                NewRoute {
                    group_id: g.id.clone(),
                    name: format!("{} 明日巡查", spec.name.trim_end_matches("联络组")),
                    assignee_id: inspector_ids.first().cloned(),
                    scheduled_for: tomorrow,
                    due_at: Some(Utc::now() + Duration::days(2)),
                    status: None,
                    stops: first,
                },
            )?;
            routes::create(
                c,
                &admin,
                NewRoute {
                    group_id: g.id.clone(),
                    name: format!("{} 每周例行巡查", spec.name.trim_end_matches("联络组")),
                    assignee_id: None,
                    scheduled_for: tomorrow + Duration::days(2),
                    due_at: None,
                    status: None,
                    stops,
                },
            )?;
            out.routes += 2;
        }
        Ok(out)
    })
}
