-- workflow_graph(workflow_id): what the shape of a workflow's branches implies, one row per step.
--   reachable     some path of branches from an entry point leads here
--   finishes      some path from here reaches an end (a NULL target or the error handler)
--   cycle         for a step on a cycle (reachable or not): the cycle's steps in order ('a → b → a')
--   loops_to      the steps that a branch from here re-enters around a cycle (a depth-first
--                 retreating edge: its target is still being explored when the branch is taken)
--   dom_pre/post  the step's interval in the dominator tree: step X runs before step C on every path
--                 from the entry points iff X's interval strictly contains C's (Cooper, Harvey and
--                 Kennedy, "A Simple, Fast Dominance Algorithm", over a virtual root that branches to
--                 every entry point)
-- One pass over arrays in PL/pgSQL: recursive queries re-plan each level and are slow on long chains.
CREATE OR REPLACE FUNCTION public.workflow_graph(p_workflow_id integer)
RETURNS SETOF public.workflow_graph_node
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    ids         integer[];  -- node k (1..n) is step ids[k]; node 0 is the virtual root
    names       text[];
    entry       boolean[];  -- is node k an entry point
    n           integer;
    edge_from   integer[];  -- distinct edges sorted by (from, to)
    edge_to     integer[];
    ending      integer[];  -- nodes with a branch to an end or to the error handler
    succ_first  integer[];  -- CSR: successors of k are edge_to[succ_first[k] .. succ_first[k+1]-1]
    pred_first  integer[];  -- CSR: predecessors of k are pred_from[pred_first[k] .. pred_first[k+1]-1]
    pred_from   integer[];
    postorder   integer[];  -- 0 unvisited, -1 on the DFS stack, else the postorder number
    by_post     integer[];
    depth_of    integer[];  -- position on the DFS stack while a node is on it
    node_cycle  text[];
    loops_from  integer[] := '{}'::integer[];
    loops_head  integer[] := '{}'::integer[];
    reached_end boolean[];
    idom        integer[];
    pre_number  integer[];
    post_number integer[];
    child_first integer[];
    children    integer[];
    stack       integer[];
    cursor_at   integer[];
    queue       integer[];
    top         integer;
    head        integer;
    counter     integer := 0;
    reach_count integer;
    node        integer;
    next_node   integer;
    candidate   integer;
    finger_a    integer;
    finger_b    integer;
    changed     boolean := true;
    members     text;
BEGIN
    -- NODES AND EDGES -------------------------------------------------------------------------
    SELECT array_agg(step.conversation_id ORDER BY step.execution_order, step.conversation_id),
           array_agg(step.canonical_name ORDER BY step.execution_order, step.conversation_id),
           array_agg(step.is_entry_point ORDER BY step.execution_order, step.conversation_id)
      INTO ids, names, entry FROM public.workflow_steps(p_workflow_id) AS step;
    n := coalesce(cardinality(ids), 0);
    IF n = 0 THEN
        RETURN;
    END IF;

    WITH node AS (
        SELECT u.id, u.k::integer AS k, u.entry FROM unnest(ids, entry) WITH ORDINALITY AS u (id, entry, k)
    ), branch AS MATERIALIZED (  -- the steps' enabled branches, read from the tables: no order is needed
        SELECT source.k AS from_node, target.k AS to_node,
               b.next_conversation_id IS NULL OR handler.conversation_id IS NOT NULL AS ends
          FROM node AS source
          JOIN public.instructions AS instruction
            ON instruction.conversation_id = source.id AND instruction.enabled
          JOIN public.instruction_steps AS b ON b.instruction_id = instruction.instruction_id AND b.enabled
          LEFT JOIN node AS target ON target.id = b.next_conversation_id
          LEFT JOIN public.conversations AS handler
            ON handler.conversation_id = b.next_conversation_id
           AND handler.conversation_type = 'error_handler' AND handler.enabled
    ), edge AS (
        SELECT branch.from_node, branch.to_node FROM branch WHERE branch.to_node IS NOT NULL
        UNION
        SELECT 0, node.k FROM node WHERE node.entry
    )
    SELECT (SELECT array_agg(edge.from_node ORDER BY edge.from_node, edge.to_node) FROM edge),
           (SELECT array_agg(edge.to_node ORDER BY edge.from_node, edge.to_node) FROM edge),
           (SELECT array_agg(DISTINCT branch.from_node) FROM branch WHERE branch.ends)
      INTO edge_from, edge_to, ending;

    succ_first := array_fill(0, ARRAY[n + 2], ARRAY[0]);
    pred_first := array_fill(0, ARRAY[n + 2], ARRAY[0]);
    FOR i IN 1 .. coalesce(cardinality(edge_from), 0) LOOP
        succ_first[edge_from[i] + 1] := succ_first[edge_from[i] + 1] + 1;
        pred_first[edge_to[i] + 1] := pred_first[edge_to[i] + 1] + 1;
    END LOOP;
    succ_first[0] := 1;
    pred_first[0] := 1;
    FOR node IN 1 .. n + 1 LOOP
        succ_first[node] := succ_first[node] + succ_first[node - 1];
        pred_first[node] := pred_first[node] + pred_first[node - 1];
    END LOOP;
    SELECT array_agg(e.f ORDER BY e.t, e.f) INTO pred_from FROM unnest(edge_from, edge_to) AS e (f, t);

    -- DEPTH-FIRST SEARCH: from the root first (what it visits is reachable), then from every step
    -- not visited yet, so that cycles are found everywhere; postorder numbers, cycles, loops
    postorder := array_fill(0, ARRAY[n + 1], ARRAY[0]);
    depth_of := array_fill(0, ARRAY[n + 1], ARRAY[0]);
    node_cycle := array_fill(NULL::text, ARRAY[n + 1], ARRAY[0]);
    by_post := '{}';
    FOR start IN 0 .. n LOOP
        CONTINUE WHEN postorder[start] <> 0;
        stack := ARRAY[start];
        cursor_at := ARRAY[succ_first[start]];
        top := 1;
        postorder[start] := -1;
        depth_of[start] := 1;
        WHILE top > 0 LOOP
            node := stack[top];
            IF cursor_at[top] < succ_first[node + 1] THEN
                next_node := edge_to[cursor_at[top]];
                cursor_at[top] := cursor_at[top] + 1;
                IF postorder[next_node] = 0 THEN
                    postorder[next_node] := -1;
                    top := top + 1;
                    stack[top] := next_node;
                    cursor_at[top] := succ_first[next_node];
                    depth_of[next_node] := top;
                ELSIF postorder[next_node] = -1 THEN
                    -- a retreating edge node → next_node closes the cycle stack[depth_of[next_node] .. top]
                    loops_from := loops_from || node;
                    loops_head := loops_head || next_node;
                    SELECT string_agg(names[stack[d]], ' → ' ORDER BY d) || ' → ' || names[next_node]
                      INTO members FROM generate_series(depth_of[next_node], top) AS d;
                    FOR i IN depth_of[next_node] .. top LOOP
                        node_cycle[stack[i]] := coalesce(node_cycle[stack[i]], members);
                    END LOOP;
                END IF;
            ELSE
                counter := counter + 1;
                postorder[node] := counter;
                by_post[counter] := node;
                top := top - 1;
            END IF;
        END LOOP;
        IF start = 0 THEN
            reach_count := counter;  -- the root's own postorder number
        END IF;
    END LOOP;

    -- BREADTH-FIRST SEARCH BACKWARDS FROM THE ENDS: which steps can finish ----------------------
    reached_end := array_fill(false, ARRAY[n + 1], ARRAY[0]);
    queue := array_fill(0, ARRAY[n]);
    top := 0;  -- the queue's tail
    FOREACH node IN ARRAY coalesce(ending, '{}') LOOP
        reached_end[node] := true;
        top := top + 1;
        queue[top] := node;
    END LOOP;
    head := 1;
    WHILE head <= top LOOP
        node := queue[head];
        head := head + 1;
        FOR i IN pred_first[node] .. pred_first[node + 1] - 1 LOOP
            next_node := pred_from[i];
            IF next_node > 0 AND NOT reached_end[next_node] THEN
                reached_end[next_node] := true;
                top := top + 1;
                queue[top] := next_node;
            END IF;
        END LOOP;
    END LOOP;

    -- IMMEDIATE DOMINATORS, in reverse postorder until nothing changes --------------------------
    idom := array_fill(NULL::integer, ARRAY[n + 1], ARRAY[0]);
    idom[0] := 0;
    WHILE changed LOOP
        changed := false;
        FOR rank IN REVERSE reach_count - 1 .. 1 LOOP  -- reachable steps, root excluded
            node := by_post[rank];
            candidate := NULL;
            FOR i IN pred_first[node] .. pred_first[node + 1] - 1 LOOP
                next_node := pred_from[i];
                CONTINUE WHEN idom[next_node] IS NULL;
                IF candidate IS NULL THEN
                    candidate := next_node;
                ELSE
                    finger_a := next_node;
                    finger_b := candidate;
                    WHILE finger_a <> finger_b LOOP
                        WHILE postorder[finger_a] < postorder[finger_b] LOOP
                            finger_a := idom[finger_a];
                        END LOOP;
                        WHILE postorder[finger_b] < postorder[finger_a] LOOP
                            finger_b := idom[finger_b];
                        END LOOP;
                    END LOOP;
                    candidate := finger_a;
                END IF;
            END LOOP;
            IF idom[node] IS DISTINCT FROM candidate THEN
                idom[node] := candidate;
                changed := true;
            END IF;
        END LOOP;
    END LOOP;

    -- INTERVALS OF THE DOMINATOR TREE ---------------------------------------------------------
    child_first := array_fill(0, ARRAY[n + 2], ARRAY[0]);
    FOR node IN 1 .. n LOOP
        IF idom[node] IS NOT NULL THEN
            child_first[idom[node] + 1] := child_first[idom[node] + 1] + 1;
        END IF;
    END LOOP;
    child_first[0] := 1;
    FOR node IN 1 .. n + 1 LOOP
        child_first[node] := child_first[node] + child_first[node - 1];
    END LOOP;
    SELECT array_agg(u.k::integer ORDER BY u.parent, u.k) INTO children
      FROM unnest(idom[1:n]) WITH ORDINALITY AS u (parent, k) WHERE u.parent IS NOT NULL;
    pre_number := array_fill(NULL::integer, ARRAY[n + 1], ARRAY[0]);
    post_number := array_fill(NULL::integer, ARRAY[n + 1], ARRAY[0]);
    counter := 1;
    pre_number[0] := counter;
    stack := ARRAY[0];
    cursor_at := ARRAY[child_first[0]];
    top := 1;
    WHILE top > 0 LOOP
        node := stack[top];
        IF cursor_at[top] < child_first[node + 1] THEN
            next_node := children[cursor_at[top]];
            cursor_at[top] := cursor_at[top] + 1;
            counter := counter + 1;
            pre_number[next_node] := counter;
            top := top + 1;
            stack[top] := next_node;
            cursor_at[top] := child_first[next_node];
        ELSE
            counter := counter + 1;
            post_number[node] := counter;
            top := top - 1;
        END IF;
    END LOOP;

    RETURN QUERY
    WITH node AS (
        SELECT * FROM unnest(ids, names, postorder[1:n], reached_end[1:n], node_cycle[1:n], pre_number[1:n],
                             post_number[1:n]) WITH ORDINALITY
                   AS u (id, name, post, finishing, cycle_text, pre, post_end, k)
    ), loop AS (
        SELECT l.source, array_agg(ids[l.head] ORDER BY l.head) AS heads
          FROM unnest(loops_from, loops_head) AS l (source, head)
         GROUP BY l.source
    )
    SELECT node.id, node.name, node.post <= reach_count, node.finishing, node.cycle_text, loop.heads, node.pre, node.post_end
      FROM node LEFT JOIN loop ON loop.source = node.k;
END;
$function$;
